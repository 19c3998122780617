package peft

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"qwentune/internal/atomicfile"
	"qwentune/model"
	"qwentune/model/safetensors"
)

// File names of a saved adapter's weights.
const (
	WeightsName       = "adapter_model.safetensors"
	LegacyWeightsName = "adapter_model.bin"
)

// keyPrefix is how PEFT's saved keys start: the PeftModel wraps the
// CausalLM, which wraps the Qwen2Model.
const keyPrefix = "base_model.model."

// Tensor is one adapter matrix in float32, row-major.
type Tensor struct {
	Shape []int
	Data  []float32
}

// Adapter is a LoRA adapter: its config and its matrices keyed as PEFT saves
// them, e.g. base_model.model.model.layers.3.self_attn.q_proj.lora_A.weight
// ([r, in]) and ….lora_B.weight ([out, r]).
type Adapter struct {
	Config  Config
	Tensors map[string]Tensor
}

// Key returns PEFT's saved key of a LoRA matrix: which is "lora_A" or
// "lora_B", module one of LinearModules.
func Key(layer int, module, which string) string {
	return keyPrefix + ModulePath(layer, module) + "." + which + ".weight"
}

// ModulePath returns the path of a linear module inside the base model, as
// target_modules, rank_pattern and alpha_pattern are matched against, e.g.
// "model.layers.3.self_attn.q_proj".
func ModulePath(layer int, module string) string {
	m, ok := model.Qwen2.Linear(module)
	if !ok {
		m = model.Module{Path: module}
	}
	return model.LayerPath(layer, m)
}

// ParseKey splits a saved key into its layer, module ("q_proj" …) and which
// matrix ("lora_A" or "lora_B"). Keys with PEFT's adapter name left in
// (….lora_A.default.weight) are accepted.
func ParseKey(key string) (layer int, module string, which string, err error) {
	bad := func(why string) (int, string, string, error) {
		return 0, "", "", fmt.Errorf("key %q: %s", key, why)
	}
	rest, ok := strings.CutPrefix(key, keyPrefix+model.LayerPrefix)
	if !ok {
		return bad("want base_model.model.model.layers.{i}.…")
	}
	parts := strings.Split(rest, ".")
	if len(parts) == 6 && parts[4] == "default" {
		parts = append(parts[:4], parts[5])
	}
	if len(parts) != 5 || parts[4] != "weight" {
		return bad("want ….{self_attn|mlp}.{module}.{lora_A|lora_B}.weight")
	}
	n, err := strconv.Atoi(parts[0])
	if err != nil || n < 0 || strconv.Itoa(n) != parts[0] {
		return bad("layer index " + strconv.Quote(parts[0]) + " is not a number")
	}
	module, which = parts[2], parts[3]
	if which != "lora_A" && which != "lora_B" {
		return bad("want lora_A or lora_B, got " + strconv.Quote(which))
	}
	known := false
	for _, m := range LinearModules {
		known = known || m == module
	}
	if !known {
		return bad("module " + strconv.Quote(module) + " is not one of " + strings.Join(LinearModules, ", "))
	}
	if ModulePath(n, module) != model.LayerPrefix+parts[0]+"."+parts[1]+"."+module {
		return bad(strconv.Quote(module) + " does not belong under " + strconv.Quote(parts[1]))
	}
	return n, module, which, nil
}

// LoadConfig reads and checks dir/adapter_config.json alone.
func LoadConfig(dir string) (Config, error) {
	path := filepath.Join(dir, ConfigName)
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("peft: %w", err)
	}
	c, err := ParseConfig(data, path)
	if err != nil {
		return Config{}, fmt.Errorf("peft: %w", err)
	}
	return c, nil
}

// Load reads an adapter folder: adapter_config.json (checked with
// ParseConfig) and adapter_model.safetensors, or, when that is absent, the
// legacy adapter_model.bin through the restricted pickle reader. Every
// tensor must have a valid key, each lora_A its lora_B, and the shapes must
// agree with the rank of their module. Use Validate to check the adapter
// against a base model.
func Load(dir string) (Adapter, error) {
	cfg, err := LoadConfig(dir)
	if err != nil {
		return Adapter{}, err
	}
	tensors, path, err := loadWeights(dir)
	if err != nil {
		return Adapter{}, fmt.Errorf("peft: %w", err)
	}
	a := Adapter{Config: cfg, Tensors: tensors}
	if err := a.check(); err != nil {
		return Adapter{}, fmt.Errorf("peft: %s: %w", path, err)
	}
	return a, nil
}

// loadWeights reads the adapter tensors as float32, normalising keys that
// carry the adapter name.
func loadWeights(dir string) (map[string]Tensor, string, error) {
	path := filepath.Join(dir, WeightsName)
	var raw []safetensors.Tensor
	if _, err := os.Stat(path); err == nil {
		f, err := safetensors.Open(path)
		if err != nil {
			return nil, path, err
		}
		defer f.Close()
		for _, n := range f.Names() {
			t, _ := f.Tensor(n)
			raw = append(raw, t)
		}
	} else {
		legacy := filepath.Join(dir, LegacyWeightsName)
		if _, err := os.Stat(legacy); err != nil {
			return nil, path, fmt.Errorf("%s: no %s or %s", dir, WeightsName, LegacyWeightsName)
		}
		path = legacy
		raw, err = ReadTorchFile(legacy)
		if err != nil {
			return nil, path, err
		}
	}
	out := make(map[string]Tensor, len(raw))
	for _, t := range raw {
		v, err := t.Float32()
		if err != nil {
			return nil, path, err
		}
		key := strings.Replace(t.Name, ".default.weight", ".weight", 1)
		if _, dup := out[key]; dup {
			return nil, path, fmt.Errorf("tensor %q appears twice", key)
		}
		out[key] = Tensor{Shape: append([]int(nil), t.Shape...), Data: v}
	}
	return out, path, nil
}

// check verifies keys, pairing and ranks, independent of a base model.
func (a Adapter) check() error {
	if len(a.Tensors) == 0 {
		return errors.New("adapter has no tensors")
	}
	for _, key := range sortedKeys(a.Tensors) {
		t := a.Tensors[key]
		layer, module, which, err := ParseKey(key)
		if err != nil {
			return err
		}
		n := 1
		for _, d := range t.Shape {
			n *= d
		}
		if len(t.Shape) != 2 || n != len(t.Data) {
			return fmt.Errorf("tensor %q: shape %v with %d values, want a matrix", key, t.Shape, len(t.Data))
		}
		path := ModulePath(layer, module)
		r := a.Config.RankFor(path)
		other := "lora_B"
		if which == "lora_B" {
			other = "lora_A"
		}
		pair, ok := a.Tensors[Key(layer, module, other)]
		if !ok {
			return fmt.Errorf("tensor %q has no %s partner", key, other)
		}
		if which == "lora_A" {
			if t.Shape[0] != r {
				return fmt.Errorf("tensor %q: shape %v, want [%d, in] for rank %d", key, t.Shape, r, r)
			}
			if len(pair.Shape) == 2 && pair.Shape[1] != r {
				return fmt.Errorf("tensor %q: shape %v, want [out, %d] for rank %d", Key(layer, module, other), pair.Shape, r, r)
			}
		}
	}
	return nil
}

func sortedKeys(m map[string]Tensor) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Validate checks the adapter against a base model: every target module
// entry names linear layers the model has, every module the config targets
// has both matrices and nothing else does, and A is [r, in] and B [out, r]
// for the module's shape.
func (a Adapter) Validate(base model.Config) error {
	if err := a.check(); err != nil {
		return err
	}
	if err := a.Config.CheckTargets(base); err != nil {
		return err
	}
	want := map[string]bool{}
	for layer := 0; layer < base.NumHiddenLayers; layer++ {
		for _, module := range LinearModules {
			path := ModulePath(layer, module)
			if !a.Config.Targets(path) {
				continue
			}
			out, in, _ := base.LinearShape(module)
			r := a.Config.RankFor(path)
			for _, w := range []struct {
				which string
				shape [2]int
			}{{"lora_A", [2]int{r, in}}, {"lora_B", [2]int{out, r}}} {
				key := Key(layer, module, w.which)
				want[key] = true
				t, ok := a.Tensors[key]
				if !ok {
					return fmt.Errorf("adapter targets %s but has no %s", path, key)
				}
				if t.Shape[0] != w.shape[0] || t.Shape[1] != w.shape[1] {
					return fmt.Errorf("tensor %q: shape %v, want %v", key, t.Shape, w.shape)
				}
			}
		}
	}
	for _, key := range sortedKeys(a.Tensors) {
		if !want[key] {
			return fmt.Errorf("tensor %q is not for a module the config targets in this %d-layer model", key, base.NumHiddenLayers)
		}
	}
	return nil
}

// CheckTargets refuses target_modules that match no linear layer of base,
// or that would put LoRA on a module QwenTune cannot adapt (the embedding,
// the output head, a norm): PEFT would fail or train something else.
func (c Config) CheckTargets(base model.Config) error {
	var supported []string
	for layer := 0; layer < base.NumHiddenLayers; layer++ {
		for _, m := range LinearModules {
			supported = append(supported, ModulePath(layer, m))
		}
	}
	// Every other module of the model, those with weights from the
	// architecture table; the rotary embedding and the activation hold none.
	a := base.Arch()
	others := []string{a.Embed.Path, a.Head.Path, a.Norm.Path, "model.rotary_emb"}
	for layer := 0; layer < base.NumHiddenLayers; layer++ {
		p := model.LayerPrefix + strconv.Itoa(layer)
		others = append(others, p)
		for _, parent := range a.Parents {
			if parent != "" {
				others = append(others, p+"."+parent)
			}
		}
		others = append(others, p+".mlp.act_fn")
		for _, m := range a.Layer {
			if m.Kind != model.LinearKind {
				others = append(others, model.LayerPath(layer, m))
			}
		}
	}
	for _, o := range others {
		if c.Targets(o) {
			return fmt.Errorf("\"target_modules\" selects %s: only the linear layers %s can carry LoRA", o, strings.Join(LinearModules, ", "))
		}
	}
	if c.TargetModules.IsRegex {
		for _, p := range supported {
			if c.Targets(p) {
				return nil
			}
		}
		return fmt.Errorf("\"target_modules\" %q matches no linear layer of the model", c.TargetModules.Regex)
	}
	for _, name := range c.TargetModules.List {
		single := Config{TargetModules: ModuleList(name), ExcludeModules: c.ExcludeModules,
			LayersToTransform: c.LayersToTransform, LayersPattern: c.LayersPattern}
		found := false
		for _, p := range supported {
			if single.Targets(p) {
				found = true
				break
			}
		}
		if !found {
			return fmt.Errorf("\"target_modules\" entry %q matches no linear layer of the model (they are %s)", name, strings.Join(LinearModules, ", "))
		}
	}
	return nil
}

// Save writes the adapter into dir (created if needed): adapter_config.json
// and adapter_model.safetensors with F32 tensors, each atomically. The
// adapter is checked first.
func Save(dir string, a Adapter) error {
	if err := a.Config.Check(); err != nil {
		return fmt.Errorf("peft: save: %w", err)
	}
	if err := a.check(); err != nil {
		return fmt.Errorf("peft: save: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("peft: %w", err)
	}
	tensors := make([]safetensors.Tensor, 0, len(a.Tensors))
	for _, key := range sortedKeys(a.Tensors) {
		t := a.Tensors[key]
		tensors = append(tensors, safetensors.FromFloat32(key, t.Shape, t.Data))
	}
	if err := safetensors.Write(filepath.Join(dir, WeightsName), tensors, map[string]string{"format": "pt"}); err != nil {
		return fmt.Errorf("peft: %w", err)
	}
	js, err := a.Config.MarshalJSON()
	if err != nil {
		return fmt.Errorf("peft: %w", err)
	}
	if err := atomicfile.WriteFile(filepath.Join(dir, ConfigName), append(js, '\n')); err != nil {
		return fmt.Errorf("peft: %w", err)
	}
	return nil
}

// TrainableLine formats parameter counts exactly as PEFT's
// print_trainable_parameters does, e.g.
// "trainable params: 8,716,288 || all params: 1,552,430,592 || trainable%: 0.5615".
func TrainableLine(trainable, all int64) string {
	pct := 0.0
	if all != 0 {
		pct = 100 * float64(trainable) / float64(all)
	}
	return fmt.Sprintf("trainable params: %s || all params: %s || trainable%%: %.4f", model.Thousands(trainable), model.Thousands(all), pct)
}

// CountLoRA returns the number of LoRA parameters the config puts on base:
// r·(in + out) for every targeted module.
func (c Config) CountLoRA(base model.Config) int64 {
	var n int64
	for layer := 0; layer < base.NumHiddenLayers; layer++ {
		for _, m := range LinearModules {
			path := ModulePath(layer, m)
			if c.Targets(path) {
				out, in, _ := base.LinearShape(m)
				n += int64(c.RankFor(path)) * int64(in+out)
			}
		}
	}
	return n
}
