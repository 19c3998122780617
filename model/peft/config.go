// Package peft reads and writes LoRA adapters in the layout of Hugging Face
// PEFT: adapter_config.json plus adapter_model.safetensors (or, from older
// PEFT, adapter_model.bin, a PyTorch zip checkpoint read with a restricted
// pickle reader that executes nothing), with tensors keyed
// base_model.model.model.layers.{i}.self_attn.q_proj.lora_A.weight.
package peft

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"regexp"
	"sort"
	"strings"

	"qwentune/model"
)

// ConfigName is the file name of an adapter's configuration.
const ConfigName = "adapter_config.json"

// AllLinear is the target_modules shorthand for every linear layer but the
// output head.
const AllLinear = "all-linear"

// LinearModules are Qwen2's per-layer linear modules in PEFT's naming (from
// the architecture table, model.Arch), the only modules a QwenTune adapter
// can target; all-linear means all of them.
var LinearModules = model.Qwen2.LinearNames()

// Modules is a target_modules (or exclude_modules) value: a list of module
// names matched exactly or as a dotted suffix, or a single string that is a
// regular expression matched against the whole module path (or the
// all-linear shorthand). The zero value matches nothing.
type Modules struct {
	// List holds the names when the JSON value was a list.
	List []string
	// Regex holds the pattern when the JSON value was a string.
	Regex string
	// IsRegex tells a string value from a list one (an empty list is not
	// the empty regex).
	IsRegex bool
}

// ModuleList returns a list-valued Modules.
func ModuleList(names ...string) Modules { return Modules{List: names} }

// ModuleRegex returns a string-valued Modules (a regex, or AllLinear).
func ModuleRegex(pattern string) Modules { return Modules{Regex: pattern, IsRegex: true} }

// IsAllLinear reports whether m is the all-linear shorthand (any case, as
// PEFT compares it lower-cased).
func (m Modules) IsAllLinear() bool {
	return m.IsRegex && strings.ToLower(m.Regex) == AllLinear
}

// Empty reports whether m is unset (null or an empty list).
func (m Modules) Empty() bool { return !m.IsRegex && len(m.List) == 0 }

// UnmarshalJSON accepts null, a string or a list of strings.
func (m *Modules) UnmarshalJSON(data []byte) error {
	data = bytes.TrimSpace(data)
	switch {
	case string(data) == "null":
		*m = Modules{}
	case len(data) > 0 && data[0] == '"':
		var s string
		if err := json.Unmarshal(data, &s); err != nil {
			return err
		}
		*m = ModuleRegex(s)
	default:
		var l []string
		if err := json.Unmarshal(data, &l); err != nil {
			return typeError(data, Modules{})
		}
		*m = ModuleList(l...)
	}
	return nil
}

// MarshalJSON writes null, the string, or the list (sorted, as PEFT writes
// its sets).
func (m Modules) MarshalJSON() ([]byte, error) {
	if m.IsRegex {
		return json.Marshal(m.Regex)
	}
	if m.List == nil {
		return []byte("null"), nil
	}
	l := append([]string(nil), m.List...)
	sort.Strings(l)
	return json.Marshal(l)
}

// compile returns the regex of a string-valued m, anchored like Python's
// re.fullmatch.
func (m Modules) compile() (*regexp.Regexp, error) {
	re, err := regexp.Compile(`^(?:` + m.Regex + `)$`)
	if err != nil {
		return nil, fmt.Errorf("regex %q: %v (Go's RE2 syntax has no lookaround or backreferences)", m.Regex, err)
	}
	return re, nil
}

// InitWeights is init_lora_weights: "true" (A Kaiming-uniform, B zero, the
// default), "false" (both random, for tests) or the name of an
// initialisation method such as "gaussian". In JSON the first two are
// booleans.
type InitWeights string

// UnmarshalJSON accepts a boolean or a string.
func (w *InitWeights) UnmarshalJSON(data []byte) error {
	var b bool
	if err := json.Unmarshal(data, &b); err == nil {
		*w = InitWeights(fmt.Sprint(b))
		return nil
	}
	var s string
	if err := json.Unmarshal(data, &s); err != nil {
		return typeError(data, InitWeights(""))
	}
	*w = InitWeights(s)
	return nil
}

// MarshalJSON writes "true" and "false" as booleans, anything else as a
// string.
func (w InitWeights) MarshalJSON() ([]byte, error) {
	switch w {
	case "true", "":
		return []byte("true"), nil
	case "false":
		return []byte("false"), nil
	}
	return json.Marshal(string(w))
}

// Layers is layers_to_transform: null, one layer index or a list of them.
type Layers []int

// UnmarshalJSON accepts null, an int or a list of ints.
func (l *Layers) UnmarshalJSON(data []byte) error {
	data = bytes.TrimSpace(data)
	if string(data) == "null" {
		*l = nil
		return nil
	}
	var one int
	if err := json.Unmarshal(data, &one); err == nil {
		*l = Layers{one}
		return nil
	}
	var many []int
	if err := json.Unmarshal(data, &many); err != nil {
		return typeError(data, Layers{})
	}
	*l = many
	return nil
}

// Config is an adapter_config.json for LoRA with every field PEFT's
// LoraConfig writes that QwenTune reads; unknown keys are ignored. Use
// Check to refuse the features QwenTune does not implement.
type Config struct {
	PeftType            string  `json:"peft_type"`
	TaskType            string  `json:"task_type"`
	BaseModelNameOrPath string  `json:"base_model_name_or_path"`
	Revision            *string `json:"revision"`
	R                   int     `json:"r"`
	LoraAlpha           float64 `json:"lora_alpha"`
	LoraDropout         float64 `json:"lora_dropout"`
	TargetModules       Modules `json:"target_modules"`
	ExcludeModules      Modules `json:"exclude_modules"`
	Bias                string  `json:"bias"`
	FanInFanOut         bool    `json:"fan_in_fan_out"`
	UseRSLoRA           bool    `json:"use_rslora"`
	UseDoRA             bool    `json:"use_dora"`
	LoraBias            bool    `json:"lora_bias"`
	InferenceMode       bool    `json:"inference_mode"`
	// InitLoraWeights is init_lora_weights.
	InitLoraWeights   InitWeights `json:"init_lora_weights"`
	ModulesToSave     []string    `json:"modules_to_save"`
	LayersToTransform Layers      `json:"layers_to_transform"`
	// LayersPattern is layers_pattern: null, a string or a list of strings.
	LayersPattern Modules `json:"layers_pattern"`
	// RankPattern and AlphaPattern override r and lora_alpha for modules
	// whose path matches a key (a regex, tried in file order).
	RankPattern  map[string]int     `json:"rank_pattern"`
	AlphaPattern map[string]float64 `json:"alpha_pattern"`

	// Features QwenTune refuses; kept to say so clearly.
	TargetParameters      []string        `json:"target_parameters"`
	LayerReplication      json.RawMessage `json:"layer_replication"`
	TrainableTokenIndices json.RawMessage `json:"trainable_token_indices"`

	rankOrder, alphaOrder []string // pattern keys in file order
}

// DefaultConfig returns PEFT's LoraConfig defaults for a causal LM: r 8,
// alpha 8, no dropout, bias "none", init true, inference mode on (as saved).
func DefaultConfig() Config {
	return Config{
		PeftType:        "LORA",
		TaskType:        "CAUSAL_LM",
		R:               8,
		LoraAlpha:       8,
		Bias:            "none",
		InitLoraWeights: "true",
		InferenceMode:   true,
		RankPattern:     map[string]int{},
		AlphaPattern:    map[string]float64{},
	}
}

// typeWants describes the custom JSON types for error messages.
var typeWants = map[reflect.Type]string{
	reflect.TypeOf(Modules{}):       "a list of module names or a regex string",
	reflect.TypeOf(InitWeights("")): "true, false or a method name",
	reflect.TypeOf(Layers{}):        "a layer index or a list of them",
}

// typeError reports a JSON value of the wrong kind for v's type; the json
// package adds the field name.
func typeError(data []byte, v any) error {
	kind := "value"
	if len(data) > 0 {
		switch data[0] {
		case '"':
			kind = "string"
		case '{':
			kind = "object"
		case '[':
			kind = "array"
		case 't', 'f':
			kind = "bool"
		case 'n':
			kind = "null"
		default:
			kind = "number"
		}
	}
	return &json.UnmarshalTypeError{Value: kind, Type: reflect.TypeOf(v)}
}

// ParseConfig decodes an adapter_config.json; name (usually the path)
// prefixes errors. It checks types and values, then refuses unsupported
// features with Check.
func ParseConfig(data []byte, name string) (Config, error) {
	c := DefaultConfig()
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&c); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			want, ok := typeWants[te.Type]
			if !ok {
				want = te.Type.String()
			}
			return Config{}, fmt.Errorf("%s: %q: want %s, got %s", name, te.Field, want, te.Value)
		}
		return Config{}, fmt.Errorf("%s: %v", name, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return Config{}, fmt.Errorf("%s: trailing data after the JSON object", name)
	}
	var order struct {
		RankPattern  orderedKeys `json:"rank_pattern"`
		AlphaPattern orderedKeys `json:"alpha_pattern"`
	}
	if err := json.Unmarshal(data, &order); err != nil {
		return Config{}, fmt.Errorf("%s: %v", name, err)
	}
	c.rankOrder, c.alphaOrder = order.RankPattern, order.AlphaPattern
	if c.RankPattern == nil {
		c.RankPattern = map[string]int{}
	}
	if c.AlphaPattern == nil {
		c.AlphaPattern = map[string]float64{}
	}
	if err := c.Check(); err != nil {
		return Config{}, fmt.Errorf("%s: %w", name, err)
	}
	return c, nil
}

// orderedKeys records the keys of a JSON object in file order.
type orderedKeys []string

// UnmarshalJSON records the keys of an object (nothing for null).
func (o *orderedKeys) UnmarshalJSON(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if tok == nil {
		return nil
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return errors.New("want an object")
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		*o = append(*o, tok.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return err
		}
	}
	return nil
}

// Check refuses configurations QwenTune cannot reproduce exactly: other
// PEFT methods, DoRA, LoRA biases, fan_in_fan_out, trained biases, extra
// trainable modules, target parameters, layer replication, trainable tokens,
// initialisations that rewrite the base weights, and invalid values.
func (c Config) Check() error {
	switch {
	case c.PeftType != "LORA":
		return fmt.Errorf("\"peft_type\" is %q: only LORA adapters are supported", c.PeftType)
	case c.TaskType != "" && c.TaskType != "CAUSAL_LM":
		return fmt.Errorf("\"task_type\" is %q: only CAUSAL_LM adapters are supported", c.TaskType)
	case c.UseDoRA:
		return errors.New("\"use_dora\" is true: DoRA adapters are not supported")
	case c.LoraBias:
		return errors.New("\"lora_bias\" is true: LoRA biases are not supported")
	case c.FanInFanOut:
		return errors.New("\"fan_in_fan_out\" is true: only [out, in] linear weights are supported")
	case c.Bias != "none" && c.Bias != "":
		return fmt.Errorf("\"bias\" is %q: training biases is not supported, only \"none\"", c.Bias)
	case len(c.ModulesToSave) > 0:
		return fmt.Errorf("\"modules_to_save\" is %v: fully trained extra modules are not supported", c.ModulesToSave)
	case len(c.TargetParameters) > 0:
		return fmt.Errorf("\"target_parameters\" is %v: targeting parameters is not supported", c.TargetParameters)
	case isSet(c.LayerReplication):
		return errors.New("\"layer_replication\" is set: layer replication is not supported")
	case isSet(c.TrainableTokenIndices):
		return errors.New("\"trainable_token_indices\" is set: trainable tokens are not supported")
	case c.InitLoraWeights != "" && c.InitLoraWeights != "true" && c.InitLoraWeights != "false" && c.InitLoraWeights != "gaussian":
		return fmt.Errorf("\"init_lora_weights\" is %q: only true, false and \"gaussian\" are supported (the others change the base weights)", c.InitLoraWeights)
	case c.R <= 0:
		return fmt.Errorf("\"r\" is %d, must be positive", c.R)
	case math.IsNaN(c.LoraAlpha) || math.IsInf(c.LoraAlpha, 0):
		return fmt.Errorf("\"lora_alpha\" is %g", c.LoraAlpha)
	case !(c.LoraDropout >= 0 && c.LoraDropout < 1):
		return fmt.Errorf("\"lora_dropout\" is %g, must be in [0, 1)", c.LoraDropout)
	case c.TargetModules.Empty():
		return errors.New("\"target_modules\" is empty")
	}
	if c.TargetModules.IsRegex && !c.TargetModules.IsAllLinear() {
		if _, err := c.TargetModules.compile(); err != nil {
			return fmt.Errorf("\"target_modules\": %v", err)
		}
	}
	if c.ExcludeModules.IsRegex {
		if _, err := c.ExcludeModules.compile(); err != nil {
			return fmt.Errorf("\"exclude_modules\": %v", err)
		}
	}
	for k, r := range c.RankPattern {
		if r <= 0 {
			return fmt.Errorf("\"rank_pattern\"[%q] is %d, must be positive", k, r)
		}
		if _, err := patternRegexp(k); err != nil {
			return fmt.Errorf("\"rank_pattern\": %v", err)
		}
	}
	for k, a := range c.AlphaPattern {
		if math.IsNaN(a) || math.IsInf(a, 0) {
			return fmt.Errorf("\"alpha_pattern\"[%q] is %g", k, a)
		}
		if _, err := patternRegexp(k); err != nil {
			return fmt.Errorf("\"alpha_pattern\": %v", err)
		}
	}
	for _, l := range c.LayersToTransform {
		if l < 0 {
			return fmt.Errorf("\"layers_to_transform\" has %d, must be non-negative", l)
		}
	}
	for _, p := range c.layersPatterns() {
		if _, err := regexp.Compile(p); err != nil {
			return fmt.Errorf("\"layers_pattern\" %q: %v", p, err)
		}
	}
	return nil
}

func isSet(raw json.RawMessage) bool {
	s := string(bytes.TrimSpace(raw))
	return s != "" && s != "null" && s != "[]" && s != "{}"
}

// patternRegexp compiles a rank_pattern/alpha_pattern key the way PEFT's
// get_pattern_key matches it: re.match(rf"(.*\.)?({key})$", module_path).
func patternRegexp(key string) (*regexp.Regexp, error) {
	re, err := regexp.Compile(`^(?:.*\.)?(?:` + key + `)$`)
	if err != nil {
		return nil, fmt.Errorf("pattern %q: %v", key, err)
	}
	return re, nil
}

// patternOrder returns the keys of m in file order when known, else sorted.
func patternOrder[V any](m map[string]V, order []string) []string {
	if len(order) == len(m) {
		ok := true
		for _, k := range order {
			if _, in := m[k]; !in {
				ok = false
				break
			}
		}
		if ok {
			return order
		}
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// RankFor returns the rank of the module at path (e.g.
// "model.layers.3.self_attn.q_proj"): the first matching rank_pattern entry,
// else r.
func (c Config) RankFor(path string) int {
	for _, k := range patternOrder(c.RankPattern, c.rankOrder) {
		if re, err := patternRegexp(k); err == nil && re.MatchString(path) {
			return c.RankPattern[k]
		}
	}
	return c.R
}

// AlphaFor returns lora_alpha for the module at path: the first matching
// alpha_pattern entry, else lora_alpha.
func (c Config) AlphaFor(path string) float64 {
	for _, k := range patternOrder(c.AlphaPattern, c.alphaOrder) {
		if re, err := patternRegexp(k); err == nil && re.MatchString(path) {
			return c.AlphaPattern[k]
		}
	}
	return c.LoraAlpha
}

// ScaleFor returns the LoRA scale of the module at path: alpha/r, or
// alpha/√r with rsLoRA.
func (c Config) ScaleFor(path string) float64 {
	r := float64(c.RankFor(path))
	if c.UseRSLoRA {
		return c.AlphaFor(path) / math.Sqrt(r)
	}
	return c.AlphaFor(path) / r
}

func (c Config) layersPatterns() []string {
	if c.LayersPattern.IsRegex {
		if c.LayersPattern.Regex == "" {
			return nil
		}
		return []string{c.LayersPattern.Regex}
	}
	return c.LayersPattern.List
}

// Targets reports whether PEFT would put LoRA on the module at path (a
// module path of the base model such as "model.layers.3.self_attn.q_proj"),
// following check_target_module_exists: exclude_modules first; a regex
// target must match the whole path; a list entry must equal the path or be
// a dotted suffix of it, and then layers_to_transform (with layers_pattern)
// restricts the layer. all-linear stands for LinearModules.
func (c Config) Targets(path string) bool {
	if matchList(c.ExcludeModules, path) {
		return false
	}
	t := c.TargetModules
	if t.IsAllLinear() {
		t = ModuleList(LinearModules...)
	}
	if t.IsRegex {
		re, err := t.compile()
		return err == nil && re.MatchString(path)
	}
	found := false
	for _, name := range t.List {
		if path == name {
			return true
		}
		if strings.HasSuffix(path, "."+name) {
			found = true
		}
	}
	if !found || len(c.LayersToTransform) == 0 {
		return found
	}
	layer, ok := layerIndex(path, c.layersPatterns())
	if !ok {
		return false
	}
	for _, l := range c.LayersToTransform {
		if l == layer {
			return true
		}
	}
	return false
}

// matchList reports whether path matches an exclude_modules value.
func matchList(m Modules, path string) bool {
	if m.IsRegex {
		re, err := m.compile()
		return err == nil && re.MatchString(path)
	}
	for _, name := range m.List {
		if path == name || strings.HasSuffix(path, "."+name) {
			return true
		}
	}
	return false
}

// layerIndex extracts the layer number from a module path as PEFT does:
// re.match(r".*\.[^.]*\.(\d+)\.") without layers_pattern, else
// re.match(rf".*\.{pattern}\.(\d+)\.") for the first pattern that matches.
func layerIndex(path string, patterns []string) (int, bool) {
	exprs := []string{`^.*\.[^.]*\.(\d+)\.`}
	if len(patterns) > 0 {
		exprs = exprs[:0]
		for _, p := range patterns {
			exprs = append(exprs, `^.*\.(?:`+p+`)\.(\d+)\.`)
		}
	}
	for _, e := range exprs {
		re, err := regexp.Compile(e)
		if err != nil {
			continue
		}
		if m := re.FindStringSubmatch(path); m != nil {
			var n int
			if _, err := fmt.Sscan(m[1], &n); err == nil {
				return n, true
			}
		}
	}
	return 0, false
}

// MarshalJSON writes the config as PEFT's save_pretrained does: every field
// with PEFT's name, rank_pattern and alpha_pattern as objects, revision null
// when unset.
func (c Config) MarshalJSON() ([]byte, error) {
	rp, ap := c.RankPattern, c.AlphaPattern
	if rp == nil {
		rp = map[string]int{}
	}
	if ap == nil {
		ap = map[string]float64{}
	}
	var layers any
	switch len(c.LayersToTransform) {
	case 0:
	default:
		layers = []int(c.LayersToTransform)
	}
	var pattern any
	if c.LayersPattern.IsRegex || c.LayersPattern.List != nil {
		pattern = c.LayersPattern
	}
	var exclude any
	if !c.ExcludeModules.Empty() {
		exclude = c.ExcludeModules
	}
	rpJSON, err := orderedJSON(rp, patternOrder(rp, c.rankOrder))
	if err != nil {
		return nil, err
	}
	apJSON, err := orderedJSON(ap, patternOrder(ap, c.alphaOrder))
	if err != nil {
		return nil, err
	}
	m := map[string]any{
		"peft_type":               c.PeftType,
		"task_type":               c.TaskType,
		"base_model_name_or_path": c.BaseModelNameOrPath,
		"revision":                c.Revision,
		"r":                       c.R,
		"lora_alpha":              c.LoraAlpha,
		"lora_dropout":            c.LoraDropout,
		"target_modules":          c.TargetModules,
		"exclude_modules":         exclude,
		"bias":                    c.Bias,
		"fan_in_fan_out":          c.FanInFanOut,
		"use_rslora":              c.UseRSLoRA,
		"use_dora":                c.UseDoRA,
		"lora_bias":               c.LoraBias,
		"inference_mode":          c.InferenceMode,
		"init_lora_weights":       c.InitLoraWeights,
		"modules_to_save":         c.ModulesToSave,
		"layers_to_transform":     layers,
		"layers_pattern":          pattern,
		"rank_pattern":            rpJSON,
		"alpha_pattern":           apJSON,
	}
	return json.MarshalIndent(m, "", "  ")
}

// orderedJSON writes m as a JSON object with its keys in the given order,
// so that pattern precedence survives a save.
func orderedJSON[V any](m map[string]V, order []string) (json.RawMessage, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, k := range order {
		if i > 0 {
			b.WriteByte(',')
		}
		kj, err := json.Marshal(k)
		if err != nil {
			return nil, err
		}
		vj, err := json.Marshal(m[k])
		if err != nil {
			return nil, err
		}
		b.Write(kj)
		b.WriteByte(':')
		b.Write(vj)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}
