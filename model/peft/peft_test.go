package peft

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"qwentune/model"
)

// tiny is the tiny Qwen2 shape: hidden 64, q 64, kv 32, intermediate 176.
var tiny = model.Shapes["tiny"]

// newAdapter builds an adapter over tiny with r on the given modules, filled
// with distinct values.
func newAdapter(cfg Config, modules ...string) Adapter {
	a := Adapter{Config: cfg, Tensors: map[string]Tensor{}}
	v := float32(0)
	fill := func(shape []int) Tensor {
		t := Tensor{Shape: shape, Data: make([]float32, shape[0]*shape[1])}
		for i := range t.Data {
			v += 0.25
			t.Data[i] = v
		}
		return t
	}
	for layer := 0; layer < tiny.NumHiddenLayers; layer++ {
		for _, m := range modules {
			out, in, _ := tiny.LinearShape(m)
			r := cfg.RankFor(ModulePath(layer, m))
			a.Tensors[Key(layer, m, "lora_A")] = fill([]int{r, in})
			a.Tensors[Key(layer, m, "lora_B")] = fill([]int{out, r})
		}
	}
	return a
}

func qvConfig() Config {
	c := DefaultConfig()
	c.R, c.LoraAlpha, c.LoraDropout = 4, 8, 0.05
	c.TargetModules = ModuleList("q_proj", "v_proj")
	c.BaseModelNameOrPath = "Qwen/Qwen2-1.5B"
	return c
}

func TestSaveLoadRoundTrip(t *testing.T) {
	dir := t.TempDir()
	cfg := qvConfig()
	cfg.RankPattern = map[string]int{"v_proj": 2}
	cfg.AlphaPattern = map[string]float64{"layers.1.self_attn.q_proj": 3}
	a := newAdapter(cfg, "q_proj", "v_proj")
	if err := a.Validate(tiny); err != nil {
		t.Fatal(err)
	}
	if err := Save(dir, a); err != nil {
		t.Fatal(err)
	}
	b, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(b.Tensors, a.Tensors) {
		t.Fatal("tensors differ after the round trip")
	}
	b.Config.rankOrder, b.Config.alphaOrder = nil, nil
	if !reflect.DeepEqual(b.Config, a.Config) {
		t.Fatalf("config\n%+v\nwant\n%+v", b.Config, a.Config)
	}
	if err := b.Validate(tiny); err != nil {
		t.Fatal(err)
	}
	// The JSON carries PEFT's names and types.
	var raw map[string]any
	data, _ := os.ReadFile(filepath.Join(dir, ConfigName))
	if err := json.Unmarshal(data, &raw); err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]any{
		"peft_type": "LORA", "task_type": "CAUSAL_LM", "r": 4.0, "lora_alpha": 8.0, "lora_dropout": 0.05,
		"bias": "none", "use_rslora": false, "use_dora": false, "inference_mode": true, "init_lora_weights": true,
		"fan_in_fan_out": false, "modules_to_save": nil, "revision": nil, "layers_to_transform": nil,
		"target_modules": []any{"q_proj", "v_proj"}, "base_model_name_or_path": "Qwen/Qwen2-1.5B",
		"rank_pattern": map[string]any{"v_proj": 2.0}, "alpha_pattern": map[string]any{"layers.1.self_attn.q_proj": 3.0},
	} {
		if got, ok := raw[key]; !ok || !reflect.DeepEqual(got, want) {
			t.Errorf("%s = %#v, want %#v", key, got, want)
		}
	}
	if entries, _ := filepath.Glob(filepath.Join(dir, ".*")); len(entries) != 0 {
		t.Fatalf("temporary files left: %v", entries)
	}
}

func TestParseKey(t *testing.T) {
	cases := []struct {
		key           string
		layer         int
		module, which string
		err           string
	}{
		{"base_model.model.model.layers.3.self_attn.q_proj.lora_A.weight", 3, "q_proj", "lora_A", ""},
		{"base_model.model.model.layers.27.mlp.down_proj.lora_B.weight", 27, "down_proj", "lora_B", ""},
		{"base_model.model.model.layers.0.self_attn.v_proj.lora_B.default.weight", 0, "v_proj", "lora_B", ""},
		{"model.layers.0.self_attn.q_proj.lora_A.weight", 0, "", "", "want base_model"},
		{"base_model.model.model.layers.x.self_attn.q_proj.lora_A.weight", 0, "", "", "not a number"},
		{"base_model.model.model.layers.01.self_attn.q_proj.lora_A.weight", 0, "", "", "not a number"},
		{"base_model.model.model.layers.0.self_attn.q_proj.lora_C.weight", 0, "", "", "lora_A or lora_B"},
		{"base_model.model.model.layers.0.self_attn.qkv.lora_A.weight", 0, "", "", "not one of"},
		{"base_model.model.model.layers.0.mlp.q_proj.lora_A.weight", 0, "", "", "does not belong"},
		{"base_model.model.model.layers.0.self_attn.q_proj.lora_A.bias", 0, "", "", "want …"},
		{"base_model.model.lm_head.lora_A.weight", 0, "", "", "want base_model"},
	}
	for _, c := range cases {
		layer, module, which, err := ParseKey(c.key)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s: error %v, want %q", c.key, err, c.err)
			}
			continue
		}
		if err != nil || layer != c.layer || module != c.module || which != c.which {
			t.Errorf("%s: %d %s %s %v", c.key, layer, module, which, err)
		}
		if err == nil && !strings.Contains(c.key, "default") && Key(layer, module, which) != c.key {
			t.Errorf("Key round trip: %s", Key(layer, module, which))
		}
	}
}

func TestTrainableLine(t *testing.T) {
	base := model.Shapes["qwen2-1.5b"]
	cfg := DefaultConfig()
	cfg.R = 64
	cfg.TargetModules = ModuleList("q_proj", "v_proj")
	lora := cfg.CountLoRA(base)
	if lora != 8_716_288 {
		t.Fatalf("CountLoRA = %d, want 8,716,288", lora)
	}
	got := TrainableLine(lora, base.ParamCount()+lora)
	want := "trainable params: 8,716,288 || all params: 1,552,430,592 || trainable%: 0.5615"
	if got != want {
		t.Fatalf("got  %q\nwant %q", got, want)
	}
	cases := []struct {
		tr, all int64
		want    string
	}{
		{0, 0, "trainable params: 0 || all params: 0 || trainable%: 0.0000"},
		{999, 1000, "trainable params: 999 || all params: 1,000 || trainable%: 99.9000"},
		{1, 3, "trainable params: 1 || all params: 3 || trainable%: 33.3333"},
		{123456789, 123456789, "trainable params: 123,456,789 || all params: 123,456,789 || trainable%: 100.0000"},
	}
	for _, c := range cases {
		if got := TrainableLine(c.tr, c.all); got != c.want {
			t.Errorf("TrainableLine(%d, %d) = %q", c.tr, c.all, got)
		}
	}
	if got := TrainableLine(-1234567, 1); !strings.HasPrefix(got, "trainable params: -1,234,567 ||") {
		t.Error(got)
	}
}

func TestTargets(t *testing.T) {
	cases := []struct {
		name   string
		change func(*Config)
		want   map[string]bool
	}{
		{"list suffix", func(c *Config) { c.TargetModules = ModuleList("q_proj", "v_proj") },
			map[string]bool{"model.layers.0.self_attn.q_proj": true, "model.layers.1.self_attn.k_proj": false, "model.layers.1.self_attn.v_proj": true}},
		{"list dotted suffix", func(c *Config) { c.TargetModules = ModuleList("self_attn.q_proj") },
			map[string]bool{"model.layers.0.self_attn.q_proj": true, "model.layers.0.mlp.up_proj": false}},
		{"list exact path", func(c *Config) { c.TargetModules = ModuleList("model.layers.1.mlp.up_proj") },
			map[string]bool{"model.layers.1.mlp.up_proj": true, "model.layers.0.mlp.up_proj": false}},
		{"regex fullmatch", func(c *Config) { c.TargetModules = ModuleRegex(`.*\.1\.self_attn\.(q|v)_proj`) },
			map[string]bool{"model.layers.1.self_attn.q_proj": true, "model.layers.0.self_attn.q_proj": false, "model.layers.1.self_attn.q_proj2": false}},
		{"all-linear", func(c *Config) { c.TargetModules = ModuleRegex("ALL-LINEAR") },
			map[string]bool{"model.layers.0.mlp.down_proj": true, "lm_head": false, "model.embed_tokens": false}},
		{"layers_to_transform", func(c *Config) { c.TargetModules = ModuleList("q_proj"); c.LayersToTransform = Layers{1} },
			map[string]bool{"model.layers.1.self_attn.q_proj": true, "model.layers.0.self_attn.q_proj": false}},
		{"layers_pattern mismatch", func(c *Config) {
			c.TargetModules = ModuleList("q_proj")
			c.LayersToTransform = Layers{1}
			c.LayersPattern = ModuleRegex("h")
		}, map[string]bool{"model.layers.1.self_attn.q_proj": false}},
		{"layers_pattern", func(c *Config) {
			c.TargetModules = ModuleList("q_proj")
			c.LayersToTransform = Layers{0}
			c.LayersPattern = ModuleList("layers")
		}, map[string]bool{"model.layers.0.self_attn.q_proj": true, "model.layers.1.self_attn.q_proj": false}},
		{"exclude", func(c *Config) {
			c.TargetModules = ModuleRegex("all-linear")
			c.ExcludeModules = ModuleList("down_proj")
		}, map[string]bool{"model.layers.0.mlp.down_proj": false, "model.layers.0.mlp.up_proj": true}},
	}
	for _, c := range cases {
		cfg := DefaultConfig()
		c.change(&cfg)
		for path, want := range c.want {
			if got := cfg.Targets(path); got != want {
				t.Errorf("%s: Targets(%s) = %v", c.name, path, got)
			}
		}
	}
}

func TestPatterns(t *testing.T) {
	data := `{"peft_type":"LORA","r":8,"lora_alpha":16,"target_modules":"all-linear","use_rslora":true,
	  "rank_pattern":{"layers\\.1\\..*_proj":4,"q_proj":2},"alpha_pattern":{"mlp.*":32}}`
	c, err := ParseConfig([]byte(data), "adapter_config.json")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		path  string
		r     int
		alpha float64
	}{
		{"model.layers.0.self_attn.q_proj", 2, 16},
		{"model.layers.1.self_attn.q_proj", 4, 16}, // the first pattern in file order wins
		{"model.layers.0.self_attn.k_proj", 8, 16},
		{"model.layers.0.mlp.up_proj", 8, 32},
	}
	for _, tc := range cases {
		if r, a := c.RankFor(tc.path), c.AlphaFor(tc.path); r != tc.r || a != tc.alpha {
			t.Errorf("%s: r %d alpha %g, want %d %g", tc.path, r, a, tc.r, tc.alpha)
		}
		if s := c.ScaleFor(tc.path); math.Abs(s-tc.alpha/math.Sqrt(float64(tc.r))) > 1e-12 {
			t.Errorf("%s: rsLoRA scale %g", tc.path, s)
		}
	}
	c.UseRSLoRA = false
	if s := c.ScaleFor("model.layers.0.mlp.up_proj"); s != 4 {
		t.Errorf("scale %g, want 32/8", s)
	}
}

func TestParseConfigRefusals(t *testing.T) {
	cases := []struct {
		name, json, want string
	}{
		{"bad json", `{"r":`, "adapter_config.json"},
		{"trailing", `{"r":8,"target_modules":["q_proj"]} x`, "trailing"},
		{"r type", `{"r":"8","target_modules":["q_proj"]}`, `"r"`},
		{"targets type", `{"target_modules":5}`, "target_modules"},
		{"init type", `{"target_modules":["q_proj"],"init_lora_weights":3}`, "init_lora_weights"},
		{"layers type", `{"target_modules":["q_proj"],"layers_to_transform":"1"}`, "layers_to_transform"},
		{"peft type", `{"peft_type":"IA3","target_modules":["q_proj"]}`, `"IA3"`},
		{"task type", `{"task_type":"SEQ_CLS","target_modules":["q_proj"]}`, "SEQ_CLS"},
		{"dora", `{"use_dora":true,"target_modules":["q_proj"]}`, "DoRA"},
		{"lora bias", `{"lora_bias":true,"target_modules":["q_proj"]}`, "LoRA biases"},
		{"fan in fan out", `{"fan_in_fan_out":true,"target_modules":["q_proj"]}`, "fan_in_fan_out"},
		{"bias all", `{"bias":"all","target_modules":["q_proj"]}`, `"bias" is "all"`},
		{"modules to save", `{"modules_to_save":["lm_head"],"target_modules":["q_proj"]}`, "modules_to_save"},
		{"target parameters", `{"target_parameters":["experts.w"],"target_modules":["q_proj"]}`, "target_parameters"},
		{"layer replication", `{"layer_replication":[[0,1]],"target_modules":["q_proj"]}`, "layer replication"},
		{"trainable tokens", `{"trainable_token_indices":[1,2],"target_modules":["q_proj"]}`, "trainable tokens"},
		{"pissa", `{"init_lora_weights":"pissa","target_modules":["q_proj"]}`, "pissa"},
		{"zero r", `{"r":0,"target_modules":["q_proj"]}`, `"r" is 0`},
		{"dropout", `{"lora_dropout":1.5,"target_modules":["q_proj"]}`, "lora_dropout"},
		{"no targets", `{"target_modules":null}`, "target_modules"},
		{"lookahead regex", `{"target_modules":"(?!lm_head).*"}`, "RE2"},
		{"bad rank pattern", `{"target_modules":["q_proj"],"rank_pattern":{"q_proj":0}}`, "rank_pattern"},
		{"bad pattern regex", `{"target_modules":["q_proj"],"alpha_pattern":{"(":1}}`, "alpha_pattern"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseConfig([]byte(c.json), "adapter_config.json")
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "adapter_config.json: ") {
				t.Fatalf("error %v, want %q", err, c.want)
			}
		})
	}
	// What current PEFT writes: unknown keys ignored, layers_to_transform as an int.
	current := `{"alora_invocation_tokens": null, "auto_mapping": null, "base_model_name_or_path": "Qwen/Qwen2-0.5B",
	  "bias": "none", "corda_config": null, "eva_config": null, "exclude_modules": null, "fan_in_fan_out": false,
	  "inference_mode": true, "init_lora_weights": true, "layer_replication": null, "layers_pattern": null,
	  "layers_to_transform": 1, "loftq_config": {}, "lora_alpha": 16, "lora_bias": false, "lora_dropout": 0.05,
	  "megatron_config": null, "megatron_core": "megatron.core", "modules_to_save": null, "peft_type": "LORA",
	  "peft_version": "0.17.1", "qalora_group_size": 16, "r": 8, "rank_pattern": {}, "revision": null,
	  "target_modules": ["v_proj", "q_proj"], "target_parameters": null, "task_type": "CAUSAL_LM",
	  "trainable_token_indices": null, "use_dora": false, "use_qalora": false, "use_rslora": false}`
	c, err := ParseConfig([]byte(current), "adapter_config.json")
	if err != nil {
		t.Fatal(err)
	}
	if c.R != 8 || c.LoraAlpha != 16 || !reflect.DeepEqual(c.LayersToTransform, Layers{1}) || c.InitLoraWeights != "true" {
		t.Fatalf("parsed %+v", c)
	}
}

func TestValidate(t *testing.T) {
	good := newAdapter(qvConfig(), "q_proj", "v_proj")
	if err := good.Validate(tiny); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		change func(a *Adapter)
		want   string
	}{
		{"wrong in", func(a *Adapter) {
			a.Tensors[Key(0, "q_proj", "lora_A")] = Tensor{Shape: []int{4, 32}, Data: make([]float32, 128)}
		}, "want [4 64]"},
		{"wrong out", func(a *Adapter) {
			a.Tensors[Key(1, "v_proj", "lora_B")] = Tensor{Shape: []int{64, 4}, Data: make([]float32, 256)}
		}, "want [32 4]"},
		{"rank mismatch", func(a *Adapter) {
			a.Tensors[Key(0, "q_proj", "lora_B")] = Tensor{Shape: []int{64, 3}, Data: make([]float32, 192)}
		}, "[out, 4]"},
		{"missing partner", func(a *Adapter) { delete(a.Tensors, Key(1, "q_proj", "lora_B")) }, "no lora_B partner"},
		{"missing module", func(a *Adapter) {
			delete(a.Tensors, Key(1, "q_proj", "lora_B"))
			delete(a.Tensors, Key(1, "q_proj", "lora_A"))
		}, "has no base_model.model.model.layers.1.self_attn.q_proj.lora_A.weight"},
		{"untargeted module", func(a *Adapter) {
			a.Tensors[Key(0, "k_proj", "lora_A")] = Tensor{Shape: []int{4, 64}, Data: make([]float32, 256)}
			a.Tensors[Key(0, "k_proj", "lora_B")] = Tensor{Shape: []int{32, 4}, Data: make([]float32, 128)}
		}, "not for a module the config targets"},
		{"layer beyond model", func(a *Adapter) {
			a.Tensors[Key(5, "q_proj", "lora_A")] = Tensor{Shape: []int{4, 64}, Data: make([]float32, 256)}
			a.Tensors[Key(5, "q_proj", "lora_B")] = Tensor{Shape: []int{64, 4}, Data: make([]float32, 256)}
		}, "2-layer model"},
		{"data length", func(a *Adapter) {
			a.Tensors[Key(0, "q_proj", "lora_A")] = Tensor{Shape: []int{4, 64}, Data: make([]float32, 3)}
		}, "want a matrix"},
		{"bad key", func(a *Adapter) { a.Tensors["lm_head.lora_A.weight"] = Tensor{} }, "lm_head"},
		{"unknown target", func(a *Adapter) { a.Config.TargetModules = ModuleList("q_proj", "v_proj", "qkv_proj") }, `"qkv_proj" matches no linear layer`},
		{"lm_head target", func(a *Adapter) { a.Config.TargetModules = ModuleList("q_proj", "v_proj", "lm_head") }, "selects lm_head"},
		{"regex matching nothing", func(a *Adapter) { a.Config.TargetModules = ModuleRegex("nothing") }, "matches no linear layer"},
		{"regex on embeddings", func(a *Adapter) { a.Config.TargetModules = ModuleRegex(".*embed_tokens|.*_proj") }, "selects model.embed_tokens"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := newAdapter(qvConfig(), "q_proj", "v_proj")
			c.change(&a)
			err := a.Validate(tiny)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want %q", err, c.want)
			}
		})
	}
}

func TestLoadErrors(t *testing.T) {
	write := func(dir, name, content string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	good := newAdapter(qvConfig(), "q_proj", "v_proj")
	cases := []struct {
		name  string
		setup func(dir string)
		want  string
	}{
		{"no config", func(dir string) {}, "adapter_config.json"},
		{"no weights", func(dir string) { write(dir, ConfigName, `{"target_modules":["q_proj"]}`) }, "no adapter_model.safetensors or adapter_model.bin"},
		{"malformed json", func(dir string) { write(dir, ConfigName, `{"target_modules":`) }, ConfigName},
		{"corrupt safetensors", func(dir string) {
			write(dir, ConfigName, `{"target_modules":["q_proj"]}`)
			write(dir, WeightsName, "garbage!garbage!")
		}, WeightsName},
		{"shape vs rank", func(dir string) {
			if err := Save(dir, good); err != nil {
				t.Fatal(err)
			}
			write(dir, ConfigName, `{"r":8,"lora_alpha":8,"target_modules":["q_proj","v_proj"]}`)
		}, "for rank 8"},
		{"not a zip", func(dir string) {
			write(dir, ConfigName, `{"target_modules":["q_proj"]}`)
			write(dir, LegacyWeightsName, "\x80\x02}q\x00.")
		}, "pre-1.6"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			c.setup(dir)
			_, err := Load(dir)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want %q", err, c.want)
			}
		})
	}
	bad := good
	bad.Config.UseDoRA = true
	if err := Save(t.TempDir(), bad); err == nil || !strings.Contains(err.Error(), "DoRA") {
		t.Fatalf("Save DoRA: %v", err)
	}
}

func FuzzParseConfig(f *testing.F) {
	f.Add([]byte(`{"peft_type":"LORA","r":8,"target_modules":["q_proj"],"rank_pattern":{"q":2}}`))
	f.Add([]byte(`{"target_modules":"all-linear","layers_to_transform":[0,1],"layers_pattern":"layers"}`))
	f.Add([]byte(`{"target_modules":".*q_proj","exclude_modules":"x","init_lora_weights":"gaussian"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseConfig(data, "fuzz")
		if err != nil {
			return
		}
		out, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		back, err := ParseConfig(out, "again")
		if err != nil {
			t.Fatalf("re-parse %s: %v", out, err)
		}
		for layer := 0; layer < 2; layer++ {
			for _, m := range LinearModules {
				p := ModulePath(layer, m)
				if back.Targets(p) != c.Targets(p) || back.RankFor(p) != c.RankFor(p) {
					t.Fatalf("%s changes meaning after a round trip: %s", p, out)
				}
			}
		}
		_ = c.CheckTargets(tiny)
	})
}
