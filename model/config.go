// Package model describes a Qwen2 model on disk: its Hugging Face
// config.json and generation_config.json; the architecture table (arch.go),
// the one place every module and tensor is named (Hugging Face key, PEFT
// module name, GGUF name) and shaped; the table of known shapes; a
// generator of deterministic random checkpoints for tests and benchmarks;
// and the byte-size and thousands formatting every layer prints with.
// Sub-packages read and write the file formats (safetensors, PEFT adapters,
// tokenizer, GGUF) and download from the hub.
package model

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// ConfigName is the file name of a model's configuration.
const ConfigName = "config.json"

// GenerationConfigName is the file name of a model's generation defaults.
const GenerationConfigName = "generation_config.json"

// The architectures and model types QwenTune implements: Qwen2 (Qwen2.5
// checkpoints use the same ones) and the dense Qwen3.
const (
	Qwen2Architecture = "Qwen2ForCausalLM"
	Qwen2ModelType    = "qwen2"
	Qwen3Architecture = "Qwen3ForCausalLM"
	Qwen3ModelType    = "qwen3"
)

// qwen3HeadDim is Qwen3Config's head_dim default: unlike Qwen2, Qwen3 does
// not derive it from hidden_size / num_attention_heads.
const qwen3HeadDim = 128

// Config is a Qwen2 config.json. Fields absent from the file take the
// defaults of transformers' Qwen2Config; HeadDim is hidden_size /
// num_attention_heads unless the file sets head_dim, and NumKeyValueHeads
// defaults to NumAttentionHeads. BOSTokenID is -1 when the file has none.
type Config struct {
	Architectures         []string
	ModelType             string
	VocabSize             int
	HiddenSize            int
	IntermediateSize      int
	NumHiddenLayers       int
	NumAttentionHeads     int
	NumKeyValueHeads      int
	HeadDim               int
	HiddenAct             string
	MaxPositionEmbeddings int
	RMSNormEps            float64
	RopeTheta             float64
	// RopeType is the rope_type of rope_scaling or rope_parameters; empty or
	// "default" is plain RoPE, the only kind implemented.
	RopeType          string
	TieWordEmbeddings bool
	BOSTokenID        int
	// EOSTokenIDs holds eos_token_id, written in JSON as an int or a list.
	EOSTokenIDs      []int
	TorchDType       string
	UseSlidingWindow bool
	SlidingWindow    int
	MaxWindowLayers  int
	AttentionDropout float64
	// InitializerRange is the standard deviation of the initial weights.
	InitializerRange float64
	// LayerTypes is the per-layer attention kind newer transformers writes
	// ("full_attention" or "sliding_attention"), nil when absent.
	LayerTypes []string
	// AttentionBias is Qwen3's attention_bias: biases on q, k, v and o
	// (false in every released Qwen3). Qwen2 ignores it: its q, k and v
	// always have biases and o never has.
	AttentionBias bool
}

// defaultConfig returns transformers' Qwen2Config defaults.
func defaultConfig() Config {
	return Config{
		VocabSize:             151936,
		HiddenSize:            4096,
		IntermediateSize:      22016,
		NumHiddenLayers:       32,
		NumAttentionHeads:     32,
		HiddenAct:             "silu",
		MaxPositionEmbeddings: 32768,
		RMSNormEps:            1e-6,
		RopeTheta:             10000,
		BOSTokenID:            -1,
		SlidingWindow:         4096,
		MaxWindowLayers:       28,
		InitializerRange:      0.02,
	}
}

// LoadConfig reads dir/config.json and validates it with Validate, so the
// result is a model QwenTune can run.
func LoadConfig(dir string) (Config, error) {
	path := filepath.Join(dir, ConfigName)
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("model: %w", err)
	}
	c, err := ParseConfig(data, path)
	if err != nil {
		return Config{}, err
	}
	if err := c.Validate(); err != nil {
		return Config{}, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// ParseConfig decodes a config.json; name (usually the path) prefixes every
// error, which also names the offending field. It checks types, not
// support: call Validate before building a model from the result.
func ParseConfig(data []byte, name string) (Config, error) {
	var c Config
	if err := c.UnmarshalJSON(data); err != nil {
		return Config{}, fmt.Errorf("%s: %w", name, err)
	}
	return c, nil
}

// fields is a decoded JSON object whose values are read one field at a time
// so that errors name the field.
type fields map[string]json.RawMessage

func decodeObject(data []byte) (fields, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var f fields
	if err := dec.Decode(&f); err != nil {
		return nil, err
	}
	if f == nil {
		return nil, errors.New("not a JSON object")
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("trailing data after the JSON object")
	}
	return f, nil
}

// present reports whether key is set to something other than null.
func (f fields) present(key string) bool {
	v, ok := f[key]
	return ok && string(bytes.TrimSpace(v)) != "null"
}

func (f fields) int(key string, dst *int) error {
	if !f.present(key) {
		return nil
	}
	v, err := parseInt(f[key])
	if err != nil {
		return fmt.Errorf("%q: %v", key, err)
	}
	*dst = v
	return nil
}

func parseInt(raw json.RawMessage) (int, error) {
	n, err := number(raw)
	if err != nil {
		return 0, fmt.Errorf("want an integer, got %s", abbreviate(raw))
	}
	if i, err := strconv.ParseInt(string(n), 10, 64); err == nil && i >= math.MinInt32 && i <= math.MaxInt32 {
		return int(i), nil
	}
	// Python writes some integers as floats (1e6); accept integral values.
	fv, err := strconv.ParseFloat(string(n), 64)
	if err != nil || fv != math.Trunc(fv) {
		return 0, fmt.Errorf("want an integer, got %s", n)
	}
	if fv < math.MinInt32 || fv > math.MaxInt32 {
		return 0, fmt.Errorf("%s is too large: at most %d", n, math.MaxInt32)
	}
	return int(fv), nil
}

// number decodes a JSON number literal; unlike json.Number it refuses a
// string holding digits.
func number(raw json.RawMessage) (json.Number, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] == '"' {
		return "", errors.New("not a number")
	}
	var n json.Number
	err := json.Unmarshal(raw, &n)
	return n, err
}

func (f fields) float(key string, dst *float64) error {
	if !f.present(key) {
		return nil
	}
	n, err := number(f[key])
	if err != nil {
		return fmt.Errorf("%q: want a number, got %s", key, abbreviate(f[key]))
	}
	v, err := strconv.ParseFloat(string(n), 64)
	if err != nil {
		return fmt.Errorf("%q: %v", key, err)
	}
	*dst = v
	return nil
}

func (f fields) bool(key string, dst *bool) error {
	if !f.present(key) {
		return nil
	}
	if err := json.Unmarshal(f[key], dst); err != nil {
		return fmt.Errorf("%q: want true or false, got %s", key, abbreviate(f[key]))
	}
	return nil
}

func (f fields) string(key string, dst *string) error {
	if !f.present(key) {
		return nil
	}
	if err := json.Unmarshal(f[key], dst); err != nil {
		return fmt.Errorf("%q: want a string, got %s", key, abbreviate(f[key]))
	}
	return nil
}

func (f fields) strings(key string, dst *[]string) error {
	if !f.present(key) {
		return nil
	}
	if err := json.Unmarshal(f[key], dst); err != nil {
		return fmt.Errorf("%q: want a list of strings, got %s", key, abbreviate(f[key]))
	}
	return nil
}

// ints reads an int or a list of ints (as eos_token_id is written).
func (f fields) ints(key string, dst *[]int) error {
	if !f.present(key) {
		return nil
	}
	raw := bytes.TrimSpace(f[key])
	if len(raw) > 0 && raw[0] == '[' {
		var list []json.RawMessage
		if err := json.Unmarshal(raw, &list); err != nil {
			return fmt.Errorf("%q: %v", key, err)
		}
		out := make([]int, len(list))
		for i, r := range list {
			v, err := parseInt(r)
			if err != nil {
				return fmt.Errorf("%q[%d]: %v", key, i, err)
			}
			out[i] = v
		}
		*dst = out
		return nil
	}
	v, err := parseInt(raw)
	if err != nil {
		return fmt.Errorf("%q: %v", key, err)
	}
	*dst = []int{v}
	return nil
}

// abbreviate shortens a raw JSON value for an error message.
func abbreviate(raw []byte) string {
	s := string(bytes.TrimSpace(raw))
	if len(s) > 40 {
		s = s[:40] + "…"
	}
	return s
}

// UnmarshalJSON decodes a config.json into c, starting from transformers'
// defaults. It accepts both the older form (torch_dtype, top-level
// rope_theta and rope_scaling) and the newer one (dtype, rope_parameters).
func (c *Config) UnmarshalJSON(data []byte) error {
	f, err := decodeObject(data)
	if err != nil {
		return err
	}
	out := defaultConfig()
	headDim := 0
	steps := []error{
		f.strings("architectures", &out.Architectures),
		f.string("model_type", &out.ModelType),
		f.int("vocab_size", &out.VocabSize),
		f.int("hidden_size", &out.HiddenSize),
		f.int("intermediate_size", &out.IntermediateSize),
		f.int("num_hidden_layers", &out.NumHiddenLayers),
		f.int("num_attention_heads", &out.NumAttentionHeads),
		f.int("num_key_value_heads", &out.NumKeyValueHeads),
		f.int("head_dim", &headDim),
		f.string("hidden_act", &out.HiddenAct),
		f.int("max_position_embeddings", &out.MaxPositionEmbeddings),
		f.float("rms_norm_eps", &out.RMSNormEps),
		f.float("rope_theta", &out.RopeTheta),
		f.bool("tie_word_embeddings", &out.TieWordEmbeddings),
		f.int("bos_token_id", &out.BOSTokenID),
		f.ints("eos_token_id", &out.EOSTokenIDs),
		f.string("torch_dtype", &out.TorchDType),
		f.string("dtype", &out.TorchDType),
		f.bool("use_sliding_window", &out.UseSlidingWindow),
		f.int("sliding_window", &out.SlidingWindow),
		f.int("max_window_layers", &out.MaxWindowLayers),
		f.float("attention_dropout", &out.AttentionDropout),
		f.float("initializer_range", &out.InitializerRange),
		f.strings("layer_types", &out.LayerTypes),
		f.bool("attention_bias", &out.AttentionBias),
	}
	for _, err := range steps {
		if err != nil {
			return err
		}
	}
	// Empty lists read as absent, so that a config survives a round trip.
	for _, l := range []*[]string{&out.Architectures, &out.LayerTypes} {
		if len(*l) == 0 {
			*l = nil
		}
	}
	if len(out.EOSTokenIDs) == 0 {
		out.EOSTokenIDs = nil
	}
	if !f.present("num_key_value_heads") {
		out.NumKeyValueHeads = out.NumAttentionHeads
	}
	if headDim != 0 {
		out.HeadDim = headDim
	} else if out.ModelType == Qwen3ModelType {
		out.HeadDim = qwen3HeadDim
	} else if out.NumAttentionHeads > 0 {
		out.HeadDim = out.HiddenSize / out.NumAttentionHeads
	}
	// The rope kind lives in rope_scaling (older saves) or rope_parameters
	// (newer ones, which also move rope_theta there).
	for _, key := range []string{"rope_scaling", "rope_parameters"} {
		if !f.present(key) {
			continue
		}
		rf, err := decodeObject(f[key])
		if err != nil {
			return fmt.Errorf("%q: %v", key, err)
		}
		var kind string
		if err := rf.string("type", &kind); err != nil {
			return fmt.Errorf("%q: %v", key, err)
		}
		if err := rf.string("rope_type", &kind); err != nil {
			return fmt.Errorf("%q: %v", key, err)
		}
		if kind == "" && key == "rope_parameters" && !rf.present("rope_theta") {
			// A per-layer-type mapping ({"full_attention": {...}}) or
			// something else we cannot read as plain RoPE.
			kind = "unrecognised " + abbreviate(f[key])
		}
		if kind != "" {
			out.RopeType = kind
		}
		if err := rf.float("rope_theta", &out.RopeTheta); err != nil {
			return fmt.Errorf("%q: %v", key, err)
		}
	}
	*c = out
	return nil
}

// Validate refuses what QwenTune does not implement: another architecture
// or model type, a rope type other than the default, sliding-window
// attention, an activation other than SiLU, attention dropout, and shapes
// that do not fit together.
func (c Config) Validate() error {
	arch, ok := map[string]string{Qwen2ModelType: Qwen2Architecture, Qwen3ModelType: Qwen3Architecture}[c.ModelType]
	if !ok {
		if strings.Contains(c.ModelType, "moe") {
			return fmt.Errorf("\"model_type\" is %q: mixture-of-experts models are not supported, only dense %s and %s", c.ModelType, Qwen2Architecture, Qwen3Architecture)
		}
		return fmt.Errorf("\"model_type\" is %q: only %q and %q models are supported", c.ModelType, Qwen2ModelType, Qwen3ModelType)
	}
	for _, a := range c.Architectures {
		if a != arch {
			return fmt.Errorf("\"architectures\" lists %q for model_type %q: only %s is supported", a, c.ModelType, arch)
		}
	}
	if c.RopeType != "" && c.RopeType != "default" {
		return fmt.Errorf("rope type %q is not supported, only the default RoPE", c.RopeType)
	}
	if c.UseSlidingWindow {
		return errors.New("\"use_sliding_window\" is true: sliding-window attention is not supported")
	}
	for i, t := range c.LayerTypes {
		if t != "full_attention" {
			return fmt.Errorf("\"layer_types\"[%d] is %q: only full_attention is supported", i, t)
		}
	}
	if c.LayerTypes != nil && len(c.LayerTypes) != c.NumHiddenLayers {
		return fmt.Errorf("\"layer_types\" has %d entries for %d layers", len(c.LayerTypes), c.NumHiddenLayers)
	}
	if c.HiddenAct != "silu" && c.HiddenAct != "swish" {
		return fmt.Errorf("\"hidden_act\" is %q: only silu is supported", c.HiddenAct)
	}
	if c.AttentionDropout != 0 {
		return fmt.Errorf("\"attention_dropout\" is %g: attention dropout is not supported", c.AttentionDropout)
	}
	positive := []struct {
		key string
		v   int
	}{
		{"vocab_size", c.VocabSize}, {"hidden_size", c.HiddenSize}, {"intermediate_size", c.IntermediateSize},
		{"num_hidden_layers", c.NumHiddenLayers}, {"num_attention_heads", c.NumAttentionHeads},
		{"num_key_value_heads", c.NumKeyValueHeads}, {"head_dim", c.HeadDim},
		{"max_position_embeddings", c.MaxPositionEmbeddings},
	}
	for _, p := range positive {
		if p.v <= 0 {
			return fmt.Errorf("%q is %d, must be positive", p.key, p.v)
		}
	}
	if c.NumAttentionHeads%c.NumKeyValueHeads != 0 {
		return fmt.Errorf("\"num_attention_heads\" %d is not a multiple of \"num_key_value_heads\" %d", c.NumAttentionHeads, c.NumKeyValueHeads)
	}
	if c.HiddenSize%c.NumAttentionHeads != 0 && c.HeadDim == c.HiddenSize/c.NumAttentionHeads {
		return fmt.Errorf("\"hidden_size\" %d is not divisible by \"num_attention_heads\" %d", c.HiddenSize, c.NumAttentionHeads)
	}
	if c.HeadDim%2 != 0 {
		return fmt.Errorf("head dimension %d is odd: RoPE needs it even", c.HeadDim)
	}
	if !(c.RMSNormEps > 0) || math.IsInf(c.RMSNormEps, 0) {
		return fmt.Errorf("\"rms_norm_eps\" is %g, must be positive", c.RMSNormEps)
	}
	if !(c.RopeTheta > 0) || math.IsInf(c.RopeTheta, 0) {
		return fmt.Errorf("\"rope_theta\" is %g, must be positive", c.RopeTheta)
	}
	if c.BOSTokenID < -1 || c.BOSTokenID >= c.VocabSize {
		return fmt.Errorf("\"bos_token_id\" %d is outside the vocabulary of %d", c.BOSTokenID, c.VocabSize)
	}
	for _, id := range c.EOSTokenIDs {
		if id < 0 || id >= c.VocabSize {
			return fmt.Errorf("\"eos_token_id\" %d is outside the vocabulary of %d", id, c.VocabSize)
		}
	}
	return nil
}

// MarshalJSON writes c as a Hugging Face config.json, with HF's field names
// (torch_dtype, top-level rope_theta), sorted keys like save_pretrained, and
// head_dim only when it differs from hidden_size / num_attention_heads
// (always for Qwen3, whose default is not derived, with attention_bias).
func (c Config) MarshalJSON() ([]byte, error) {
	m := map[string]any{
		"architectures":           c.Architectures,
		"model_type":              c.ModelType,
		"vocab_size":              c.VocabSize,
		"hidden_size":             c.HiddenSize,
		"intermediate_size":       c.IntermediateSize,
		"num_hidden_layers":       c.NumHiddenLayers,
		"num_attention_heads":     c.NumAttentionHeads,
		"num_key_value_heads":     c.NumKeyValueHeads,
		"hidden_act":              c.HiddenAct,
		"max_position_embeddings": c.MaxPositionEmbeddings,
		"rms_norm_eps":            c.RMSNormEps,
		"rope_theta":              c.RopeTheta,
		"rope_scaling":            nil,
		"tie_word_embeddings":     c.TieWordEmbeddings,
		"bos_token_id":            nil,
		"eos_token_id":            nil,
		"torch_dtype":             c.TorchDType,
		"use_sliding_window":      c.UseSlidingWindow,
		"sliding_window":          c.SlidingWindow,
		"max_window_layers":       c.MaxWindowLayers,
		"attention_dropout":       c.AttentionDropout,
		"initializer_range":       c.InitializerRange,
		"use_cache":               true,
	}
	if len(c.Architectures) == 0 {
		delete(m, "architectures")
	}
	if c.RopeType != "" {
		m["rope_scaling"] = map[string]string{"rope_type": c.RopeType}
	}
	if c.BOSTokenID >= 0 {
		m["bos_token_id"] = c.BOSTokenID
	}
	switch len(c.EOSTokenIDs) {
	case 0:
	case 1:
		m["eos_token_id"] = c.EOSTokenIDs[0]
	default:
		m["eos_token_id"] = c.EOSTokenIDs
	}
	if c.ModelType == Qwen3ModelType || (c.NumAttentionHeads > 0 && c.HeadDim != c.HiddenSize/c.NumAttentionHeads) {
		m["head_dim"] = c.HeadDim
	}
	if c.ModelType == Qwen3ModelType {
		m["attention_bias"] = c.AttentionBias
	}
	if len(c.LayerTypes) > 0 {
		m["layer_types"] = c.LayerTypes
	}
	return json.MarshalIndent(m, "", "  ")
}

// ParamCount returns the number of parameters as PyTorch's parameters()
// counts them: a tied output head shares the embedding and is counted once.
// It sums the shapes of Weights without listing every layer's names.
func (c Config) ParamCount() int64 {
	a := c.Arch()
	var perLayer int64
	for _, w := range a.layerWeights(nil, c, 0) {
		perLayer += numel(w.Shape)
	}
	n := numel(a.Embed.Shape(c)) + int64(c.NumHiddenLayers)*perLayer + numel(a.Norm.Shape(c))
	if !c.TieWordEmbeddings {
		n += numel(a.Head.Shape(c))
	}
	return n
}

// GenerationConfig is a generation_config.json: the model's defaults for
// generate(). Fields absent from the file take transformers' defaults
// (temperature 1, top_p 1, top_k 50, repetition_penalty 1, no sampling);
// token ids are -1 and MaxNewTokens is 0 when absent.
type GenerationConfig struct {
	BOSTokenID        int
	EOSTokenIDs       []int
	PadTokenID        int
	Temperature       float64
	TopP              float64
	TopK              int
	RepetitionPenalty float64
	DoSample          bool
	MaxNewTokens      int
}

// DefaultGenerationConfig returns transformers' GenerationConfig defaults.
func DefaultGenerationConfig() GenerationConfig {
	return GenerationConfig{
		BOSTokenID:        -1,
		PadTokenID:        -1,
		Temperature:       1,
		TopP:              1,
		TopK:              50,
		RepetitionPenalty: 1,
	}
}

// LoadGenerationConfig reads dir/generation_config.json. The boolean is
// false, with the defaults and no error, when the file does not exist.
func LoadGenerationConfig(dir string) (GenerationConfig, bool, error) {
	path := filepath.Join(dir, GenerationConfigName)
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return DefaultGenerationConfig(), false, nil
	}
	if err != nil {
		return GenerationConfig{}, false, fmt.Errorf("model: %w", err)
	}
	g, err := ParseGenerationConfig(data, path)
	if err != nil {
		return GenerationConfig{}, false, err
	}
	return g, true, nil
}

// ParseGenerationConfig decodes a generation_config.json; name prefixes
// every error.
func ParseGenerationConfig(data []byte, name string) (GenerationConfig, error) {
	var g GenerationConfig
	if err := g.UnmarshalJSON(data); err != nil {
		return GenerationConfig{}, fmt.Errorf("%s: %w", name, err)
	}
	return g, nil
}

// UnmarshalJSON decodes a generation_config.json into g, starting from the
// defaults; eos_token_id may be an int or a list.
func (g *GenerationConfig) UnmarshalJSON(data []byte) error {
	f, err := decodeObject(data)
	if err != nil {
		return err
	}
	out := DefaultGenerationConfig()
	steps := []error{
		f.int("bos_token_id", &out.BOSTokenID),
		f.ints("eos_token_id", &out.EOSTokenIDs),
		f.int("pad_token_id", &out.PadTokenID),
		f.float("temperature", &out.Temperature),
		f.float("top_p", &out.TopP),
		f.int("top_k", &out.TopK),
		f.float("repetition_penalty", &out.RepetitionPenalty),
		f.bool("do_sample", &out.DoSample),
		f.int("max_new_tokens", &out.MaxNewTokens),
	}
	for _, err := range steps {
		if err != nil {
			return err
		}
	}
	*g = out
	return nil
}

// MarshalJSON writes g as a generation_config.json, omitting unset token ids
// and max_new_tokens.
func (g GenerationConfig) MarshalJSON() ([]byte, error) {
	m := map[string]any{
		"do_sample":          g.DoSample,
		"temperature":        g.Temperature,
		"top_p":              g.TopP,
		"top_k":              g.TopK,
		"repetition_penalty": g.RepetitionPenalty,
	}
	if g.BOSTokenID >= 0 {
		m["bos_token_id"] = g.BOSTokenID
	}
	if g.PadTokenID >= 0 {
		m["pad_token_id"] = g.PadTokenID
	}
	switch len(g.EOSTokenIDs) {
	case 0:
	case 1:
		m["eos_token_id"] = g.EOSTokenIDs[0]
	default:
		m["eos_token_id"] = g.EOSTokenIDs
	}
	if g.MaxNewTokens > 0 {
		m["max_new_tokens"] = g.MaxNewTokens
	}
	return json.MarshalIndent(m, "", "  ")
}
