package gguf

import "testing"

func TestQwen2Names(t *testing.T) {
	cases := []struct {
		hf, want string
		ok       bool
	}{
		{"model.embed_tokens.weight", "token_embd.weight", true},
		{"model.norm.weight", "output_norm.weight", true},
		{"lm_head.weight", "output.weight", true},
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
		{"model.layers.3", "", false},
		{"model.embed_tokens.bias", "", false},
		{"", "", false},
	}
	for _, c := range cases {
		got, ok := Qwen2Names(c.hf)
		if got != c.want || ok != c.ok {
			t.Errorf("Qwen2Names(%q) = %q, %v; want %q, %v", c.hf, got, ok, c.want, c.ok)
		}
	}
}
