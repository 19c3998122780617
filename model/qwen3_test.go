package model

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// qwen3_06B is Qwen/Qwen3-0.6B's config.json as published.
const qwen3_06B = `{
  "architectures": ["Qwen3ForCausalLM"],
  "attention_bias": false,
  "attention_dropout": 0.0,
  "bos_token_id": 151643,
  "eos_token_id": 151645,
  "head_dim": 128,
  "hidden_act": "silu",
  "hidden_size": 1024,
  "initializer_range": 0.02,
  "intermediate_size": 3072,
  "max_position_embeddings": 40960,
  "max_window_layers": 28,
  "model_type": "qwen3",
  "num_attention_heads": 16,
  "num_hidden_layers": 28,
  "num_key_value_heads": 8,
  "rms_norm_eps": 1e-06,
  "rope_scaling": null,
  "rope_theta": 1000000,
  "sliding_window": null,
  "tie_word_embeddings": true,
  "torch_dtype": "bfloat16",
  "transformers_version": "4.51.0",
  "use_cache": true,
  "use_sliding_window": false,
  "vocab_size": 151936
}`

func TestParseConfigQwen3(t *testing.T) {
	c, err := ParseConfig([]byte(qwen3_06B), "config.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	want := Shapes["qwen3-0.6b"]
	want.SlidingWindow = c.SlidingWindow // null in the file: the default, unused with the window off
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("parsed\n%+v\nwant\n%+v", c, want)
	}
	if c.Arch().GGUF != "qwen3" || !c.Arch().HasQKNorm() || Qwen2.HasQKNorm() {
		t.Fatal("qwen3 config without the qwen3 table")
	}
	// Qwen3Config's head_dim default is 128, not hidden/heads.
	noHead := strings.Replace(qwen3_06B, `"head_dim": 128,`, "", 1)
	c, err = ParseConfig([]byte(noHead), "config.json")
	if err != nil || c.HeadDim != 128 {
		t.Fatalf("head_dim absent: %d, %v", c.HeadDim, err)
	}
	biased := strings.Replace(qwen3_06B, `"attention_bias": false`, `"attention_bias": true`, 1)
	c, err = ParseConfig([]byte(biased), "config.json")
	if err != nil || !c.AttentionBias || c.Arch().GGUF != "qwen3" {
		t.Fatalf("attention_bias true: %+v, %v", c, err)
	}
	n := 0
	for _, w := range c.Weights() {
		if w.Bias {
			n++
		}
	}
	if n != 4*28 {
		t.Fatalf("attention_bias true: %d biases, want q, k, v and o in 28 layers", n)
	}
}

// TestQwen3Refusals: what Qwen3 variants the engine does not run are refused
// by name.
func TestQwen3Refusals(t *testing.T) {
	for _, tc := range []struct{ from, to, want string }{
		{`"model_type": "qwen3"`, `"model_type": "qwen3_moe"`, "mixture-of-experts"},
		{`["Qwen3ForCausalLM"]`, `["Qwen3MoeForCausalLM"]`, "Qwen3MoeForCausalLM"},
		{`["Qwen3ForCausalLM"]`, `["Qwen2ForCausalLM"]`, "Qwen2ForCausalLM"},
		{`"use_sliding_window": false`, `"use_sliding_window": true`, "sliding-window"},
		{`"attention_dropout": 0.0`, `"attention_dropout": 0.1,"layer_types": ["sliding_attention"]`, "sliding_attention"},
		{`"attention_bias": false`, `"attention_bias": 1`, "attention_bias"},
	} {
		data := strings.Replace(qwen3_06B, tc.from, tc.to, 1)
		c, err := ParseConfig([]byte(data), "config.json")
		if err == nil {
			err = c.Validate()
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error naming %q", tc.to, err, tc.want)
		}
	}
}

// The parameter counts of the published shapes as transformers counts them
// (sum of numel over Qwen3ForCausalLM/Qwen2ForCausalLM(config).parameters()
// on the meta device, transformers 5.25).
func TestParamCountQwen3AndQwen25(t *testing.T) {
	for shape, want := range map[string]int64{
		"qwen3-0.6b": 596_049_920,
		"qwen3-1.7b": 1_720_574_976,
		"qwen3-4b":   4_022_468_096,
		"qwen3-8b":   8_190_735_360,
		"qwen2.5-3b": 3_085_938_688,
		"qwen2.5-7b": 7_615_616_512,
	} {
		if got := Shapes[shape].ParamCount(); got != want {
			t.Errorf("%s: ParamCount %d, transformers %d", shape, got, want)
		}
	}
}

// The table lists the names transformers' Qwen3ForCausalLM has, in its
// checkpoint order, the norms q_norm and k_norm after o_proj as
// Qwen3Attention declares them; state_dict() puts them with the attention.
func TestQwen3Table(t *testing.T) {
	c := Shapes["tiny-qwen3"]
	c.NumHiddenLayers = 1
	var names []string
	for _, w := range c.Weights() {
		names = append(names, w.Name+":"+w.GGUFName())
	}
	want := []string{"model.embed_tokens.weight:token_embd.weight",
		"model.layers.0.input_layernorm.weight:blk.0.attn_norm.weight",
		"model.layers.0.self_attn.q_proj.weight:blk.0.attn_q.weight",
		"model.layers.0.self_attn.k_proj.weight:blk.0.attn_k.weight",
		"model.layers.0.self_attn.v_proj.weight:blk.0.attn_v.weight",
		"model.layers.0.self_attn.o_proj.weight:blk.0.attn_output.weight",
		"model.layers.0.self_attn.q_norm.weight:blk.0.attn_q_norm.weight",
		"model.layers.0.self_attn.k_norm.weight:blk.0.attn_k_norm.weight",
		"model.layers.0.post_attention_layernorm.weight:blk.0.ffn_norm.weight",
		"model.layers.0.mlp.gate_proj.weight:blk.0.ffn_gate.weight",
		"model.layers.0.mlp.up_proj.weight:blk.0.ffn_up.weight",
		"model.layers.0.mlp.down_proj.weight:blk.0.ffn_down.weight",
		"model.norm.weight:output_norm.weight"}
	if !reflect.DeepEqual(names, want) {
		t.Fatalf("Weights:\n%q\nwant\n%q", names, want)
	}
	for _, w := range c.Weights() {
		if strings.Contains(w.Name, "_norm.") && !reflect.DeepEqual(w.Shape, []int{32}) {
			t.Errorf("%s: shape %v, want [head_dim]", w.Name, w.Shape)
		}
		got, ok := c.Arch().ParseKey(c, w.Name)
		if !ok || got.Name != w.Name || got.Module.Name != w.Module.Name {
			t.Errorf("ParseKey(%q) = %+v, %v", w.Name, got, ok)
		}
	}
	if _, ok := c.Arch().ParseKey(c, "model.layers.0.self_attn.q_proj.bias"); ok {
		t.Error("attention_bias false, but q_proj.bias parses")
	}
	if !reflect.DeepEqual(Qwen3.LinearNames(), Qwen2.LinearNames()) {
		t.Error("Qwen3's LoRA targets differ from Qwen2's")
	}
	data, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), `"head_dim":32`) || !strings.Contains(string(data), `"attention_bias":false`) {
		t.Fatalf("qwen3 config.json lacks head_dim or attention_bias: %s", data)
	}
}
