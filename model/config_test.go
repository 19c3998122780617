package model

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// qwen2_15B is Qwen/Qwen2-1.5B's config.json as published.
const qwen2_15B = `{
  "architectures": ["Qwen2ForCausalLM"],
  "attention_dropout": 0.0,
  "bos_token_id": 151643,
  "eos_token_id": 151643,
  "hidden_act": "silu",
  "hidden_size": 1536,
  "initializer_range": 0.02,
  "intermediate_size": 8960,
  "max_position_embeddings": 131072,
  "max_window_layers": 28,
  "model_type": "qwen2",
  "num_attention_heads": 12,
  "num_hidden_layers": 28,
  "num_key_value_heads": 2,
  "rms_norm_eps": 1e-06,
  "rope_theta": 1000000.0,
  "sliding_window": 131072,
  "tie_word_embeddings": true,
  "torch_dtype": "bfloat16",
  "transformers_version": "4.40.1",
  "use_cache": true,
  "use_sliding_window": false,
  "vocab_size": 151936
}`

// newStyle is the same model as saved by newer transformers: dtype,
// rope_parameters, layer_types and an eos list.
const newStyle = `{
  "architectures": ["Qwen2ForCausalLM"],
  "model_type": "qwen2",
  "dtype": "bfloat16",
  "hidden_size": 1536, "intermediate_size": 8960, "num_hidden_layers": 2,
  "num_attention_heads": 12, "num_key_value_heads": 2, "vocab_size": 151936,
  "max_position_embeddings": 131072, "rms_norm_eps": 1e-06, "tie_word_embeddings": true,
  "rope_parameters": {"rope_theta": 1000000.0, "rope_type": "default"},
  "layer_types": ["full_attention", "full_attention"],
  "bos_token_id": null, "eos_token_id": [151645, 151643], "sliding_window": null
}`

func TestParseConfigQwen2(t *testing.T) {
	c, err := ParseConfig([]byte(qwen2_15B), "config.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	want := Shapes["qwen2-1.5b"]
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("parsed\n%+v\nwant\n%+v", c, want)
	}
	if got := c.ParamCount(); got != 1_543_714_304 {
		t.Fatalf("ParamCount = %d, want 1,543,714,304", got)
	}
}

func TestParamCount(t *testing.T) {
	cases := []struct {
		shape string
		want  int64
	}{
		{"qwen2-1.5b", 1_543_714_304},
		// PEFT reports all params 1,552,430,592 with 8,716,288 LoRA ones.
		{"qwen2-0.5b", 494_032_768},
	}
	for _, c := range cases {
		cfg := Shapes[c.shape]
		if got := cfg.ParamCount(); got != c.want {
			t.Errorf("%s: ParamCount = %d, want %d", c.shape, got, c.want)
		}
		var sum int64
		for _, w := range cfg.Weights() {
			n := int64(1)
			for _, d := range w.Shape {
				n *= int64(d)
			}
			sum += n
		}
		if sum != c.want {
			t.Errorf("%s: Weights add up to %d, want %d", c.shape, sum, c.want)
		}
	}
	if got := Shapes["qwen2-1.5b"].ParamCount() + 8_716_288; got != 1_552_430_592 {
		t.Fatalf("base + LoRA = %d, want PEFT's 1,552,430,592", got)
	}
	untied := Shapes["tiny"]
	untied.TieWordEmbeddings = false
	if d := untied.ParamCount() - Shapes["tiny"].ParamCount(); d != 8192*64 {
		t.Fatalf("untied head adds %d, want %d", d, 8192*64)
	}
}

func TestParseConfigNewStyle(t *testing.T) {
	c, err := ParseConfig([]byte(newStyle), "config.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.RopeTheta != 1e6 || c.RopeType != "default" || c.TorchDType != "bfloat16" || c.BOSTokenID != -1 ||
		!reflect.DeepEqual(c.EOSTokenIDs, []int{151645, 151643}) || c.HeadDim != 128 || c.SlidingWindow != 4096 {
		t.Fatalf("parsed %+v", c)
	}
}

func TestParseConfigDefaults(t *testing.T) {
	c, err := ParseConfig([]byte(`{"model_type":"qwen2","hidden_size":64,"num_attention_heads":4}`), "x")
	if err != nil {
		t.Fatal(err)
	}
	if c.NumKeyValueHeads != 4 || c.HeadDim != 16 || c.HiddenAct != "silu" || c.RopeTheta != 10000 ||
		c.RMSNormEps != 1e-6 || c.VocabSize != 151936 || c.BOSTokenID != -1 || c.EOSTokenIDs != nil {
		t.Fatalf("defaults %+v", c)
	}
	c, err = ParseConfig([]byte(`{"model_type":"qwen2","hidden_size":64,"num_attention_heads":4,"head_dim":32}`), "x")
	if err != nil || c.HeadDim != 32 {
		t.Fatalf("explicit head_dim: %+v %v", c, err)
	}
}

func TestParseConfigMalformed(t *testing.T) {
	cases := []struct {
		name, json, want string
	}{
		{"not json", `{"vocab_size":`, "config.json"},
		{"array", `[1]`, "config.json"},
		{"null", `null`, "not a JSON object"},
		{"trailing", `{} {}`, "trailing data"},
		{"string int", `{"hidden_size":"64"}`, `"hidden_size": want an integer`},
		{"fraction", `{"num_hidden_layers":2.5}`, `"num_hidden_layers": want an integer, got 2.5`},
		{"huge int", `{"vocab_size":1e30}`, `"vocab_size"`},
		{"eos list of strings", `{"eos_token_id":[1,"x"]}`, `"eos_token_id"[1]`},
		{"bool type", `{"tie_word_embeddings":"yes"}`, `"tie_word_embeddings": want true or false`},
		{"float type", `{"rms_norm_eps":"small"}`, `"rms_norm_eps": want a number`},
		{"architectures type", `{"architectures":"Qwen2ForCausalLM"}`, `"architectures": want a list`},
		{"rope_scaling type", `{"rope_scaling":[1]}`, `"rope_scaling"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseConfig([]byte(c.json), "config.json")
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "config.json: ") {
				t.Fatalf("error %v, want %q", err, c.want)
			}
		})
	}
	if _, err := ParseConfig([]byte(`{"rope_theta":1e6,"vocab_size":151936.0}`), "x"); err != nil {
		t.Fatalf("integral float refused: %v", err)
	}
}

func TestValidate(t *testing.T) {
	base := Shapes["tiny"]
	cases := []struct {
		name   string
		change func(*Config)
		want   string
	}{
		{"model type", func(c *Config) { c.ModelType = "llama" }, `"model_type" is "llama"`},
		{"architecture", func(c *Config) { c.Architectures = []string{"Qwen2MoeForCausalLM"} }, "Qwen2MoeForCausalLM"},
		{"rope type", func(c *Config) { c.RopeType = "yarn" }, `rope type "yarn"`},
		{"sliding window", func(c *Config) { c.UseSlidingWindow = true }, "sliding-window"},
		{"layer types", func(c *Config) { c.LayerTypes = []string{"full_attention", "sliding_attention"} }, "sliding_attention"},
		{"layer types count", func(c *Config) { c.LayerTypes = []string{"full_attention"} }, "1 entries for 2 layers"},
		{"activation", func(c *Config) { c.HiddenAct = "gelu" }, `"hidden_act" is "gelu"`},
		{"dropout", func(c *Config) { c.AttentionDropout = 0.1 }, "attention dropout"},
		{"kv heads", func(c *Config) { c.NumKeyValueHeads = 3 }, "not a multiple"},
		{"hidden not divisible", func(c *Config) { c.NumAttentionHeads = 6; c.NumKeyValueHeads = 2; c.HeadDim = 10 }, "not divisible"},
		{"odd head dim", func(c *Config) { c.HeadDim = 15 }, "odd"},
		{"zero layers", func(c *Config) { c.NumHiddenLayers = 0 }, `"num_hidden_layers" is 0`},
		{"negative vocab", func(c *Config) { c.VocabSize = -1 }, `"vocab_size"`},
		{"eps", func(c *Config) { c.RMSNormEps = 0 }, "rms_norm_eps"},
		{"theta", func(c *Config) { c.RopeTheta = -1 }, "rope_theta"},
		{"eos range", func(c *Config) { c.EOSTokenIDs = []int{9000} }, `"eos_token_id" 9000`},
		{"bos range", func(c *Config) { c.BOSTokenID = 8192 }, `"bos_token_id" 8192`},
	}
	if err := base.Validate(); err != nil {
		t.Fatalf("tiny: %v", err)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := base
			cfg.Architectures = append([]string(nil), base.Architectures...)
			c.change(&cfg)
			err := cfg.Validate()
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want %q", err, c.want)
			}
		})
	}
	for _, rope := range []string{`{"rope_scaling":{"type":"linear","factor":2}}`, `{"rope_parameters":{"full_attention":{"rope_theta":1}}}`} {
		c, err := ParseConfig([]byte(rope), "x")
		if err != nil {
			t.Fatal(err)
		}
		c.ModelType = "qwen2"
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "rope type") {
			t.Errorf("%s: error %v", rope, err)
		}
	}
	for _, good := range []string{`{"rope_scaling":{"rope_type":"default"}}`, `{"rope_scaling":null}`, `{"hidden_act":"swish"}`} {
		c, err := ParseConfig([]byte(good), "x")
		if err != nil {
			t.Fatal(err)
		}
		c.ModelType = "qwen2"
		if err := c.Validate(); err != nil {
			t.Errorf("%s: %v", good, err)
		}
	}
}

func TestConfigMarshalRoundTrip(t *testing.T) {
	for name, cfg := range Shapes {
		data, err := json.Marshal(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(data), `"torch_dtype"`) || strings.Contains(string(data), `"head_dim"`) != (cfg.ModelType == Qwen3ModelType) {
			t.Errorf("%s: %s", name, data)
		}
		back, err := ParseConfig(data, name)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(back, cfg) {
			t.Errorf("%s: round trip\n%+v\nwant\n%+v", name, back, cfg)
		}
	}
	odd := Shapes["tiny"]
	odd.HeadDim, odd.EOSTokenIDs, odd.BOSTokenID, odd.RopeType = 32, []int{1, 2}, -1, "default"
	data, _ := json.Marshal(odd)
	back, err := ParseConfig(data, "odd")
	if err != nil || !reflect.DeepEqual(back, odd) {
		t.Fatalf("round trip %s: %+v %v", data, back, err)
	}
}

func TestLoadConfig(t *testing.T) {
	dir := t.TempDir()
	if _, err := LoadConfig(dir); err == nil {
		t.Fatal("missing config.json accepted")
	}
	os.WriteFile(filepath.Join(dir, ConfigName), []byte(`{"model_type":"llama"}`), 0o644)
	_, err := LoadConfig(dir)
	if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, ConfigName)) || !strings.Contains(err.Error(), "llama") {
		t.Fatalf("error %v", err)
	}
	os.WriteFile(filepath.Join(dir, ConfigName), []byte(qwen2_15B), 0o644)
	if _, err := LoadConfig(dir); err != nil {
		t.Fatal(err)
	}
}

func TestGenerationConfig(t *testing.T) {
	dir := t.TempDir()
	g, ok, err := LoadGenerationConfig(dir)
	if err != nil || ok || !reflect.DeepEqual(g, DefaultGenerationConfig()) {
		t.Fatalf("absent file: %+v %v %v", g, ok, err)
	}
	instruct := `{"bos_token_id": 151643, "pad_token_id": 151643, "do_sample": true,
	  "eos_token_id": [151645, 151643], "repetition_penalty": 1.05, "temperature": 0.7,
	  "top_p": 0.8, "top_k": 20, "transformers_version": "4.37.0"}`
	os.WriteFile(filepath.Join(dir, GenerationConfigName), []byte(instruct), 0o644)
	g, ok, err = LoadGenerationConfig(dir)
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	want := GenerationConfig{BOSTokenID: 151643, EOSTokenIDs: []int{151645, 151643}, PadTokenID: 151643,
		Temperature: 0.7, TopP: 0.8, TopK: 20, RepetitionPenalty: 1.05, DoSample: true}
	if !reflect.DeepEqual(g, want) {
		t.Fatalf("got %+v", g)
	}
	data, err := json.Marshal(g)
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParseGenerationConfig(data, "x")
	if err != nil || !reflect.DeepEqual(back, g) {
		t.Fatalf("round trip %s: %+v %v", data, back, err)
	}
	for _, bad := range []string{`{"top_k":"20"}`, `{"eos_token_id":"x"}`, `[]`, `{"do_sample":1}`} {
		os.WriteFile(filepath.Join(dir, GenerationConfigName), []byte(bad), 0o644)
		if _, _, err := LoadGenerationConfig(dir); err == nil || !strings.Contains(err.Error(), GenerationConfigName) {
			t.Errorf("%s: error %v", bad, err)
		}
	}
}

func FuzzParseConfig(f *testing.F) {
	f.Add([]byte(qwen2_15B))
	f.Add([]byte(newStyle))
	f.Add([]byte(`{"eos_token_id":[1,2],"rope_scaling":{"type":"yarn"}}`))
	f.Add([]byte(`{"num_attention_heads":0,"hidden_size":64}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseConfig(data, "fuzz")
		if err != nil {
			return
		}
		if c.Validate() != nil {
			return
		}
		// A valid config survives a round trip unchanged and its parameters
		// can be counted.
		out, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		back, err := ParseConfig(out, "again")
		if err != nil {
			t.Fatalf("re-parse %s: %v", out, err)
		}
		if !reflect.DeepEqual(back, c) {
			t.Fatalf("round trip\n%+v\n%+v", back, c)
		}
		_ = c.ParamCount()
	})
}
