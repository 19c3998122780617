package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// specials are the added tokens of the cut vocabulary, in id order after the BPE ids.
var specials = []string{"<|endoftext|>", "<|im_start|>", "<|im_end|>"}

// source is the part of the full tokenizer.json that Cut reads.
type source struct {
	Normalizer    json.RawMessage `json:"normalizer"`
	PreTokenizer  json.RawMessage `json:"pre_tokenizer"`
	PostProcessor json.RawMessage `json:"post_processor"`
	Decoder       json.RawMessage `json:"decoder"`
	Model         struct {
		Vocab  map[string]int    `json:"vocab"`
		Merges []json.RawMessage `json:"merges"`
	} `json:"model"`
}

// Cut returns a tokenizer.json holding the first size−len(specials) ids of the full byte-level BPE
// tokenizer in data, the merges that create them, and the special tokens after them.
func Cut(data []byte, size int) ([]byte, error) {
	var src source
	if err := json.Unmarshal(data, &src); err != nil {
		return nil, err
	}
	base := size - len(specials)
	nMerges := base - 256
	if nMerges < 0 || nMerges > len(src.Model.Merges) {
		return nil, fmt.Errorf("size %d: want between %d and %d", size, 256+len(specials), len(src.Model.Merges)+256+len(specials))
	}
	tokens := make([]string, base)
	for tok, id := range src.Model.Vocab {
		if id < base {
			tokens[id] = tok
		}
	}
	bytesSeen := map[rune]bool{}
	for id := 0; id < 256; id++ {
		r := []rune(tokens[id])
		if len(r) != 1 || !isByteSymbol(r[0]) || bytesSeen[r[0]] {
			return nil, fmt.Errorf("model.vocab: id %d is %q, not a distinct byte symbol", id, tokens[id])
		}
		bytesSeen[r[0]] = true
	}
	merges := make([][2]string, nMerges)
	for i := range merges {
		a, b, err := mergePair(src.Model.Merges[i])
		if err != nil {
			return nil, fmt.Errorf("model.merges[%d]: %w", i, err)
		}
		if got := src.Model.Vocab[a+b]; got != 256+i || tokens[got] != a+b {
			return nil, fmt.Errorf("model.merges[%d]: %q+%q is id %d, want %d", i, a, b, got, 256+i)
		}
		merges[i] = [2]string{a, b}
	}

	var out bytes.Buffer
	out.WriteString("{\n  \"version\": \"1.0\",\n  \"truncation\": null,\n  \"padding\": null,\n  \"added_tokens\": [")
	for k, s := range specials {
		if k > 0 {
			out.WriteByte(',')
		}
		fmt.Fprintf(&out, "\n    {\n      \"id\": %d,\n      \"content\": %s,\n      \"single_word\": false,\n"+
			"      \"lstrip\": false,\n      \"rstrip\": false,\n      \"normalized\": false,\n      \"special\": true\n    }",
			base+k, quote(s))
	}
	out.WriteString("\n  ],\n")
	for _, c := range []struct {
		name string
		raw  json.RawMessage
	}{{"normalizer", src.Normalizer}, {"pre_tokenizer", src.PreTokenizer}, {"post_processor", src.PostProcessor}, {"decoder", src.Decoder}} {
		var v bytes.Buffer
		if err := json.Indent(&v, c.raw, "  ", "  "); err != nil {
			return nil, fmt.Errorf("%s: %w", c.name, err)
		}
		fmt.Fprintf(&out, "  %q: %s,\n", c.name, v.Bytes())
	}
	out.WriteString("  \"model\": {\n    \"type\": \"BPE\",\n    \"dropout\": null,\n    \"unk_token\": null,\n" +
		"    \"continuing_subword_prefix\": \"\",\n    \"end_of_word_suffix\": \"\",\n    \"fuse_unk\": false,\n" +
		"    \"byte_fallback\": false,\n    \"ignore_merges\": false,\n    \"vocab\": {")
	for id, tok := range tokens {
		if id > 0 {
			out.WriteByte(',')
		}
		fmt.Fprintf(&out, "\n      %s: %d", quote(tok), id)
	}
	out.WriteString("\n    },\n    \"merges\": [")
	for i, m := range merges {
		if i > 0 {
			out.WriteByte(',')
		}
		fmt.Fprintf(&out, "\n      %s", quote(m[0]+" "+m[1]))
	}
	out.WriteString("\n    ]\n  }\n}\n")
	return out.Bytes(), nil
}

// isByteSymbol reports whether r stands for a byte in GPT-2's byte-level alphabet.
func isByteSymbol(r rune) bool {
	return (r >= 33 && r <= 126) || (r >= 161 && r <= 172) || (r >= 174 && r <= 255) || (r >= 256 && r < 256+68)
}

// mergePair reads a merge as ["a", "b"] or "a b".
func mergePair(raw json.RawMessage) (string, string, error) {
	var pair []string
	if err := json.Unmarshal(raw, &pair); err == nil {
		if len(pair) != 2 {
			return "", "", fmt.Errorf("%d parts, want 2", len(pair))
		}
		return pair[0], pair[1], nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", "", errors.New("want \"a b\" or [a, b]")
	}
	a, b, ok := strings.Cut(s, " ")
	if !ok || strings.Contains(b, " ") {
		return "", "", fmt.Errorf("%q: want two parts", s)
	}
	return a, b, nil
}

// quote writes s as a JSON string without HTML escaping, as Python's json module does.
func quote(s string) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		panic(err) // a Go string always encodes
	}
	return strings.TrimSuffix(b.String(), "\n")
}
