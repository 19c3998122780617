package model

import (
	"reflect"
	"testing"
)

// Every key of a checkpoint parses back to its own Weight, and names the
// llama.cpp tensor convert_hf_to_gguf.py gives it.
func TestParseKeyAndGGUFNames(t *testing.T) {
	c := Shapes["qwen2-1.5b"] // 28 layers, tied
	cases := []struct {
		hf, want string
		ok       bool
	}{
		{"model.embed_tokens.weight", "token_embd.weight", true},
		{"model.norm.weight", "output_norm.weight", true},
		{"model.layers.0.input_layernorm.weight", "blk.0.attn_norm.weight", true},
		{"model.layers.12.self_attn.q_proj.weight", "blk.12.attn_q.weight", true},
		{"model.layers.12.self_attn.q_proj.bias", "blk.12.attn_q.bias", true},
		{"model.layers.1.self_attn.k_proj.weight", "blk.1.attn_k.weight", true},
		{"model.layers.1.self_attn.k_proj.bias", "blk.1.attn_k.bias", true},
		{"model.layers.1.self_attn.v_proj.weight", "blk.1.attn_v.weight", true},
		{"model.layers.1.self_attn.v_proj.bias", "blk.1.attn_v.bias", true},
		{"model.layers.27.self_attn.o_proj.weight", "blk.27.attn_output.weight", true},
		{"model.layers.3.post_attention_layernorm.weight", "blk.3.ffn_norm.weight", true},
		{"model.layers.3.mlp.gate_proj.weight", "blk.3.ffn_gate.weight", true},
		{"model.layers.3.mlp.up_proj.weight", "blk.3.ffn_up.weight", true},
		{"model.layers.3.mlp.down_proj.weight", "blk.3.ffn_down.weight", true},
		{"model.layers.3.self_attn.o_proj.bias", "", false},
		{"model.layers.3.self_attn.rotary_emb.inv_freq", "", false},
		{"model.layers.03.mlp.up_proj.weight", "", false},
		{"model.layers.x.mlp.up_proj.weight", "", false},
		{"model.layers.28.mlp.up_proj.weight", "", false},
		{"model.layers.-1.mlp.up_proj.weight", "", false},
		{"model.layers.3", "", false},
		{"model.embed_tokens.bias", "", false},
		{"lm_head.weight", "", false}, // tied: not part of the checkpoint
		{"", "", false},
	}
	for _, tc := range cases {
		w, ok := c.Arch().ParseKey(c, tc.hf)
		if ok != tc.ok || (ok && (w.GGUFName() != tc.want || w.Name != tc.hf)) {
			t.Errorf("ParseKey(%q) = %q (%s), %v; want %s, %v", tc.hf, w.Name, w.GGUFName(), ok, tc.want, tc.ok)
		}
	}
	untied := c
	untied.TieWordEmbeddings = false
	if w, ok := untied.Arch().ParseKey(untied, "lm_head.weight"); !ok || w.GGUFName() != "output.weight" {
		t.Errorf("untied lm_head: %+v %v", w, ok)
	}
	for _, w := range untied.Weights() {
		got, ok := untied.Arch().ParseKey(untied, w.Name)
		if !ok || got.Name != w.Name || !reflect.DeepEqual(got.Shape, w.Shape) || got.Slot != w.Slot || got.Bias != w.Bias || got.Layer != w.Layer {
			t.Errorf("ParseKey(%q) = %+v, %v; want %+v", w.Name, got, ok, w)
		}
	}
}

// The table lists the names transformers' Qwen2ForCausalLM has, in its
// checkpoint order, and state_dict() order puts a layer's attention, then
// its MLP, then its norms.
func TestQwen2Table(t *testing.T) {
	c := Shapes["tiny"]
	c.NumHiddenLayers = 1
	var names []string
	for _, w := range c.Weights() {
		names = append(names, w.Name)
	}
	want := []string{"model.embed_tokens.weight",
		"model.layers.0.input_layernorm.weight",
		"model.layers.0.self_attn.q_proj.weight", "model.layers.0.self_attn.q_proj.bias",
		"model.layers.0.self_attn.k_proj.weight", "model.layers.0.self_attn.k_proj.bias",
		"model.layers.0.self_attn.v_proj.weight", "model.layers.0.self_attn.v_proj.bias",
		"model.layers.0.self_attn.o_proj.weight",
		"model.layers.0.post_attention_layernorm.weight",
		"model.layers.0.mlp.gate_proj.weight", "model.layers.0.mlp.up_proj.weight", "model.layers.0.mlp.down_proj.weight",
		"model.norm.weight"}
	if !reflect.DeepEqual(names, want) {
		t.Fatalf("Weights:\n%q\nwant\n%q", names, want)
	}
	if n := Qwen2.TensorsPerLayer(); n != len(want)-2 {
		t.Errorf("TensorsPerLayer = %d, want %d", n, len(want)-2)
	}
	if got := Qwen2.LinearNames(); !reflect.DeepEqual(got, []string{"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}) {
		t.Errorf("LinearNames = %q", got)
	}
	ws := c.Weights()
	names = names[:0]
	for _, i := range Qwen2.StateDictOrder(ws) {
		names = append(names, ws[i].Name)
	}
	sd := []string{"model.embed_tokens.weight",
		"model.layers.0.self_attn.q_proj.weight", "model.layers.0.self_attn.q_proj.bias",
		"model.layers.0.self_attn.k_proj.weight", "model.layers.0.self_attn.k_proj.bias",
		"model.layers.0.self_attn.v_proj.weight", "model.layers.0.self_attn.v_proj.bias",
		"model.layers.0.self_attn.o_proj.weight",
		"model.layers.0.mlp.gate_proj.weight", "model.layers.0.mlp.up_proj.weight", "model.layers.0.mlp.down_proj.weight",
		"model.layers.0.input_layernorm.weight", "model.layers.0.post_attention_layernorm.weight",
		"model.norm.weight"}
	if !reflect.DeepEqual(names, sd) {
		t.Fatalf("StateDictOrder:\n%q\nwant\n%q", names, sd)
	}
	if p := LayerPath(3, Qwen2.Layer[1]); p != "model.layers.3.self_attn.q_proj" {
		t.Errorf("LayerPath = %q", p)
	}
}
