package gguf

import (
	"strconv"
	"strings"
)

// qwen2Global maps the Hugging Face names outside the decoder layers.
var qwen2Global = map[string]string{
	"model.embed_tokens.weight": "token_embd.weight",
	"model.norm.weight":         "output_norm.weight",
	"lm_head.weight":            "output.weight",
}

// qwen2Layer maps the part of a layer tensor's name after "model.layers.N.".
var qwen2Layer = map[string]string{
	"input_layernorm.weight":          "attn_norm.weight",
	"self_attn.q_proj.weight":         "attn_q.weight",
	"self_attn.q_proj.bias":           "attn_q.bias",
	"self_attn.k_proj.weight":         "attn_k.weight",
	"self_attn.k_proj.bias":           "attn_k.bias",
	"self_attn.v_proj.weight":         "attn_v.weight",
	"self_attn.v_proj.bias":           "attn_v.bias",
	"self_attn.o_proj.weight":         "attn_output.weight",
	"post_attention_layernorm.weight": "ffn_norm.weight",
	"mlp.gate_proj.weight":            "ffn_gate.weight",
	"mlp.up_proj.weight":              "ffn_up.weight",
	"mlp.down_proj.weight":            "ffn_down.weight",
}

// Qwen2Names maps a Qwen2 safetensors tensor name to its llama.cpp GGUF name,
// e.g. "model.layers.3.self_attn.q_proj.bias" → "blk.3.attn_q.bias". It
// returns false for names that are not part of a Qwen2 model (such as
// rotary_emb.inv_freq buffers).
func Qwen2Names(hfName string) (string, bool) {
	if g, ok := qwen2Global[hfName]; ok {
		return g, true
	}
	rest, ok := strings.CutPrefix(hfName, "model.layers.")
	if !ok {
		return "", false
	}
	num, suffix, ok := strings.Cut(rest, ".")
	if !ok {
		return "", false
	}
	n, err := strconv.ParseUint(num, 10, 32)
	if err != nil || strconv.FormatUint(n, 10) != num {
		return "", false
	}
	g, ok := qwen2Layer[suffix]
	if !ok {
		return "", false
	}
	return "blk." + num + "." + g, true
}
