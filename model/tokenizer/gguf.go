package tokenizer

import (
	"encoding/json"
	"fmt"
)

// Token types of a GGUF file's tokenizer.ggml.token_type (llama.cpp's
// llama_token_type).
const (
	GGUFNormal      = 1
	GGUFUnknown     = 2
	GGUFControl     = 3
	GGUFUserDefined = 4
	GGUFUnused      = 5
	GGUFByte        = 6
)

// GGUFVocab is the tokenizer a GGUF file carries in its tokenizer.*
// metadata, as llama.cpp's converter writes it for a Hugging Face BPE
// tokenizer: every id's token (byte-level strings for the BPE vocabulary,
// the content for added tokens, "[PADn]" for ids nobody uses), its type,
// and the merges in rank order.
type GGUFVocab struct {
	Model, Pre   string // tokenizer.ggml.model and .pre: "gpt2" and "qwen2" for Qwen2 and Qwen3
	Tokens       []string
	Types        []int32
	Merges       []string
	EOS, Pad     int    // −1 when the file names none
	ChatTemplate string // "" when the file has none
}

// FromGGUF builds the tokenizer a GGUF file describes; name (the file)
// prefixes errors. It is the Hugging Face tokenizer the file was converted
// from: the BPE vocabulary from the normal tokens, control tokens as
// special added tokens and user-defined ones as added tokens that are not
// special, with Qwen2's normaliser, split pattern and byte-level steps
// (the only pre-tokenizer we implement, so tokenizer.ggml.pre must be
// qwen2). Its SaveFiles writes that tokenizer.json, so an adapter trained
// on a GGUF base ships a tokenizer any Hugging Face tool reads. One
// difference is the converter's, not ours: it marks every "<|...|>" token a
// control token, so a token Hugging Face left not special (Qwen2.5's
// <|fim_prefix|>) comes back special, which only changes what Decode
// skips.
func FromGGUF(v GGUFVocab, name string) (*Tokenizer, error) {
	switch {
	case v.Model != "gpt2":
		return nil, fmt.Errorf("%s: tokenizer.ggml.model is %q: only byte-level BPE (gpt2) is supported", name, v.Model)
	case v.Pre != "qwen2":
		return nil, fmt.Errorf("%s: tokenizer.ggml.pre is %q: only Qwen2's pre-tokenizer (qwen2) is supported", name, v.Pre)
	case len(v.Tokens) == 0:
		return nil, fmt.Errorf("%s: tokenizer.ggml.tokens is missing or empty", name)
	case len(v.Tokens) >= maxID:
		return nil, fmt.Errorf("%s: tokenizer.ggml.tokens has %d entries, more than %d", name, len(v.Tokens), maxID)
	case len(v.Types) != len(v.Tokens):
		return nil, fmt.Errorf("%s: tokenizer.ggml.token_type has %d entries, tokenizer.ggml.tokens %d", name, len(v.Types), len(v.Tokens))
	}
	// The steps around the BPE model are the built-in Qwen2 tokenizer's.
	var steps fileJSON
	if err := json.Unmarshal(builtinFile(builtinTokenizerName), &steps); err != nil {
		return nil, err // the built-in file is tested
	}
	vocab := make(map[string]int, len(v.Tokens))
	var added []addedTokenJSON
	for id, tok := range v.Tokens {
		switch typ := v.Types[id]; typ {
		case GGUFNormal:
			if _, dup := vocab[tok]; dup {
				return nil, fmt.Errorf("%s: tokenizer.ggml.tokens[%d]: %q listed twice", name, id, tok)
			}
			vocab[tok] = id
		case GGUFControl, GGUFUserDefined:
			added = append(added, addedTokenJSON{ID: &id, Content: &tok, Special: typ == GGUFControl})
		case GGUFUnused:
		default:
			return nil, fmt.Errorf("%s: tokenizer.ggml.token_type[%d] is %d: a byte-level BPE tokenizer has normal (1), control (3), user-defined (4) and unused (5) tokens", name, id, typ)
		}
	}
	merges := make([]json.RawMessage, len(v.Merges))
	for i, m := range v.Merges {
		b, err := json.Marshal(m)
		if err != nil {
			return nil, err
		}
		merges[i] = b
	}
	doc := struct {
		Version       string           `json:"version"`
		Truncation    any              `json:"truncation"`
		Padding       any              `json:"padding"`
		AddedTokens   []addedTokenJSON `json:"added_tokens"`
		Normalizer    json.RawMessage  `json:"normalizer"`
		PreTokenizer  json.RawMessage  `json:"pre_tokenizer"`
		PostProcessor json.RawMessage  `json:"post_processor"`
		Decoder       json.RawMessage  `json:"decoder"`
		Model         any              `json:"model"`
	}{"1.0", nil, nil, added, steps.Normalizer, steps.PreTokenizer, steps.PostProcessor, steps.Decoder,
		struct {
			Type         string            `json:"type"`
			Dropout      any               `json:"dropout"`
			UnkToken     any               `json:"unk_token"`
			CSP          any               `json:"continuing_subword_prefix"`
			EOWS         any               `json:"end_of_word_suffix"`
			FuseUnk      bool              `json:"fuse_unk"`
			ByteFallback bool              `json:"byte_fallback"`
			IgnoreMerges bool              `json:"ignore_merges"`
			Vocab        map[string]int    `json:"vocab"`
			Merges       []json.RawMessage `json:"merges"`
		}{Type: "BPE", Vocab: vocab, Merges: merges}}
	data, err := marshalNoEscape(doc)
	if err != nil {
		return nil, err
	}
	t, err := Parse(data, name)
	if err != nil {
		return nil, err
	}
	t.eos, t.pad, t.eosToken = -1, -1, ""
	for _, f := range []struct {
		key string
		id  int
		set func(int)
	}{
		{"eos_token_id", v.EOS, func(id int) { t.eos, t.eosToken = id, t.tokens[id] }},
		{"padding_token_id", v.Pad, func(id int) { t.pad = id }},
	} {
		if f.id < 0 {
			continue
		}
		if f.id >= len(t.tokens) || t.tokens[f.id] == "" {
			return nil, fmt.Errorf("%s: tokenizer.ggml.%s %d is not a token", name, f.key, f.id)
		}
		f.set(f.id)
	}
	if t.pad < 0 {
		t.pad = t.eos
	}
	t.chatTemplate = v.ChatTemplate
	return t, nil
}
