// Package tokenizer reads Hugging Face tokenizer.json files of the byte-level BPE kind Qwen2 uses and
// encodes, decodes and chat-formats text exactly as the Hugging Face tokenizers library does: NFC
// normalisation, the Qwen2 split pattern, GPT-2's byte-level alphabet, BPE by merge rank, and added
// tokens matched before everything else. It also renders the chat template a model ships, and embeds
// a small 8192-token cut of the Qwen2 tokenizer for tiny test models (Builtin).
package tokenizer

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"golang.org/x/text/unicode/norm"
)

// qwen2Pattern is the only Split pattern we implement (see splitWords).
const qwen2Pattern = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`

// maxID bounds token ids so that a corrupt file cannot make us allocate gigabytes.
const maxID = 1 << 22

// Tokenizer is a loaded byte-level BPE tokenizer. It is safe for concurrent use.
type Tokenizer struct {
	name string

	tokens []string       // id → token string: byte-level for the model vocabulary, content for added tokens
	vocab  map[string]int // model vocabulary, byte-level strings
	merges []string       // "a b" in rank order, as listed in the file

	// ranks maps the pair of ids (left<<32 | right) to rank<<32 | merged id.
	ranks        map[uint64]uint64
	byteID       [256]int32 // id of each byte's one-character token, −1 when missing
	unk          int        // −1 without unk_token
	fuseUnk      bool
	ignoreMerges bool

	added          []AddedToken
	addedIndex     map[int]int    // id → index in added
	addedByContent map[string]int // content → index in added
	rawAdded       *addedMatcher
	normAdded      *addedMatcher

	// Decoding: the bytes of token id are decBytes[decOff[id]:decOff[id+1]].
	decBytes []byte
	decOff   []int32

	eos, pad     int
	bosToken     string
	eosToken     string
	chatTemplate string // what the model ships; "" when it ships none
	tmplOnce     sync.Once
	tmpl         chatRenderer

	// The files as read, so SaveFiles can copy them byte for byte.
	tokenizerFile []byte
	configFile    []byte
	templateFile  []byte

	cache wordCache
}

// AddedToken is an entry of tokenizer.json's added_tokens: text matched before normalisation and
// pre-tokenisation and encoded as one id.
type AddedToken struct {
	ID         int
	Content    string
	Special    bool // skipped by Decode with skipSpecial; a control token in GGUF
	Normalized bool // matched after NFC instead of on the raw text
	LStrip     bool // swallows the white space on its left
	RStrip     bool // swallows the white space on its right
	SingleWord bool // only matches when not inside a word
}

// Load reads a tokenizer from a model folder (tokenizer.json, plus tokenizer_config.json and
// chat_template.jinja when present) or from a tokenizer.json file, in which case those two companions
// are looked for next to it.
func Load(path string) (*Tokenizer, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	dir, file := path, filepath.Join(path, "tokenizer.json")
	if !st.IsDir() {
		dir, file = filepath.Dir(path), path
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	t, err := Parse(data, file)
	if err != nil {
		return nil, err
	}
	cfgPath := filepath.Join(dir, "tokenizer_config.json")
	cfg, err := os.ReadFile(cfgPath)
	switch {
	case err == nil:
		if err := t.applyConfig(cfg, cfgPath); err != nil {
			return nil, err
		}
	case !errors.Is(err, os.ErrNotExist):
		return nil, err
	}
	tmpl, err := os.ReadFile(filepath.Join(dir, "chat_template.jinja"))
	switch {
	case err == nil:
		t.templateFile = tmpl
		t.chatTemplate = string(tmpl)
	case !errors.Is(err, os.ErrNotExist):
		return nil, err
	}
	return t, nil
}

// fileJSON is the part of tokenizer.json we read.
type fileJSON struct {
	AddedTokens   []addedTokenJSON `json:"added_tokens"`
	Normalizer    json.RawMessage  `json:"normalizer"`
	PreTokenizer  json.RawMessage  `json:"pre_tokenizer"`
	PostProcessor json.RawMessage  `json:"post_processor"`
	Decoder       json.RawMessage  `json:"decoder"`
	Model         *modelJSON       `json:"model"`
}

type addedTokenJSON struct {
	ID         *int    `json:"id"`
	Content    *string `json:"content"`
	SingleWord bool    `json:"single_word"`
	LStrip     bool    `json:"lstrip"`
	RStrip     bool    `json:"rstrip"`
	Normalized bool    `json:"normalized"`
	Special    bool    `json:"special"`
}

type modelJSON struct {
	Type                    string            `json:"type"`
	Vocab                   map[string]int    `json:"vocab"`
	Merges                  []json.RawMessage `json:"merges"`
	UnkToken                *string           `json:"unk_token"`
	FuseUnk                 bool              `json:"fuse_unk"`
	ByteFallback            bool              `json:"byte_fallback"`
	IgnoreMerges            bool              `json:"ignore_merges"`
	Dropout                 *float64          `json:"dropout"`
	ContinuingSubwordPrefix *string           `json:"continuing_subword_prefix"`
	EndOfWordSuffix         *string           `json:"end_of_word_suffix"`
}

// component is a normalizer, pre-tokenizer, post-processor or decoder entry.
type component struct {
	Type           string          `json:"type"`
	Normalizers    []component     `json:"normalizers"`
	Pretokenizers  []component     `json:"pretokenizers"`
	Processors     []component     `json:"processors"`
	Decoders       []component     `json:"decoders"`
	Pattern        json.RawMessage `json:"pattern"`
	Behavior       string          `json:"behavior"`
	Invert         bool            `json:"invert"`
	AddPrefixSpace bool            `json:"add_prefix_space"`
	UseRegex       *bool           `json:"use_regex"`
}

// Parse reads a tokenizer.json document; name (usually the file's path) prefixes error messages.
// Without a tokenizer_config.json the end-of-sequence and padding tokens default to <|endoftext|>.
func Parse(data []byte, name string) (*Tokenizer, error) {
	var f fileJSON
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, jsonError(name, data, err)
	}
	if f.Model == nil {
		return nil, fmt.Errorf("%s: missing \"model\"", name)
	}
	if err := checkNormalizer(f.Normalizer); err != nil {
		return nil, fmt.Errorf("%s: normalizer: %w", name, err)
	}
	if err := checkPreTokenizer(f.PreTokenizer); err != nil {
		return nil, fmt.Errorf("%s: pre_tokenizer: %w", name, err)
	}
	if err := checkByteLevelOrNull(f.PostProcessor); err != nil {
		return nil, fmt.Errorf("%s: post_processor: %w", name, err)
	}
	if err := checkByteLevelOrNull(f.Decoder); err != nil {
		return nil, fmt.Errorf("%s: decoder: %w", name, err)
	}
	t := &Tokenizer{name: name, tokenizerFile: bytes.Clone(data), unk: -1, eos: -1, pad: -1}
	if err := t.buildModel(f.Model); err != nil {
		return nil, fmt.Errorf("%s: model.%w", name, err)
	}
	if err := t.buildAdded(f.AddedTokens); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	t.buildDecoder()
	if id, ok := t.TokenID("<|endoftext|>"); ok {
		t.eos, t.pad, t.eosToken = id, id, "<|endoftext|>"
	}
	return t, nil
}

// jsonError prefixes a JSON decoding error with the file name and the line and column it points at.
func jsonError(name string, data []byte, err error) error {
	var offset int64 = -1
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntax):
		offset = syntax.Offset
	case errors.As(err, &typ):
		offset = typ.Offset
	}
	if offset < 0 || offset > int64(len(data)) {
		return fmt.Errorf("%s: %w", name, err)
	}
	before := data[:offset]
	line := bytes.Count(before, []byte("\n")) + 1
	col := max(1, len(before)-bytes.LastIndexByte(before, '\n')-1) // the offset is just past the culprit
	return fmt.Errorf("%s:%d:%d: %w", name, line, col, err)
}

func (t *Tokenizer) buildModel(m *modelJSON) error {
	switch {
	case m.Type != "" && m.Type != "BPE":
		return fmt.Errorf("type: %q is not supported, only BPE", m.Type)
	case m.Vocab == nil:
		return errors.New("vocab: missing")
	case m.ByteFallback:
		return errors.New("byte_fallback: not supported")
	case m.Dropout != nil && *m.Dropout != 0:
		return errors.New("dropout: not supported")
	case m.ContinuingSubwordPrefix != nil && *m.ContinuingSubwordPrefix != "":
		return errors.New("continuing_subword_prefix: not supported")
	case m.EndOfWordSuffix != nil && *m.EndOfWordSuffix != "":
		return errors.New("end_of_word_suffix: not supported")
	}
	size := 0
	for tok, id := range m.Vocab {
		if id < 0 || id >= maxID {
			return fmt.Errorf("vocab[%q]: id %d out of range", tok, id)
		}
		size = max(size, id+1)
	}
	t.vocab = m.Vocab
	t.tokens = make([]string, size)
	seen := make([]bool, size)
	for tok, id := range m.Vocab {
		if seen[id] {
			return fmt.Errorf("vocab[%q]: id %d used twice", tok, id)
		}
		seen[id] = true
		t.tokens[id] = tok
	}
	for b := range t.byteID {
		t.byteID[b] = -1
		if id, ok := m.Vocab[string(byteToRune[b])]; ok {
			t.byteID[b] = int32(id)
		}
	}
	if m.UnkToken != nil {
		id, ok := m.Vocab[*m.UnkToken]
		if !ok {
			return fmt.Errorf("unk_token: %q is not in the vocabulary", *m.UnkToken)
		}
		t.unk, t.fuseUnk = id, m.FuseUnk
	}
	t.ignoreMerges = m.IgnoreMerges

	t.ranks = make(map[uint64]uint64, len(m.Merges))
	t.merges = make([]string, 0, len(m.Merges))
	for i, raw := range m.Merges {
		a, b, skip, err := parseMerge(raw)
		if err != nil {
			return fmt.Errorf("merges[%d]: %w", i, err)
		}
		if skip {
			continue
		}
		ia, oka := m.Vocab[a]
		ib, okb := m.Vocab[b]
		im, okm := m.Vocab[a+b]
		switch {
		case !oka:
			return fmt.Errorf("merges[%d]: %q is not in the vocabulary", i, a)
		case !okb:
			return fmt.Errorf("merges[%d]: %q is not in the vocabulary", i, b)
		case !okm:
			return fmt.Errorf("merges[%d]: %q is not in the vocabulary", i, a+b)
		}
		rank := len(t.merges)
		t.merges = append(t.merges, a+" "+b)
		// A pair listed twice keeps its last rank, as in the Hugging Face library.
		t.ranks[uint64(ia)<<32|uint64(ib)] = uint64(rank)<<32 | uint64(im)
	}
	return nil
}

// parseMerge reads a merge written as "a b" or as ["a", "b"]. Legacy "#version" lines are skipped.
func parseMerge(raw json.RawMessage) (a, b string, skip bool, err error) {
	raw = bytes.TrimLeft(raw, " \t\r\n")
	if a, b, ok := fastPair(raw); ok {
		return a, b, false, nil
	}
	if len(raw) > 0 && raw[0] == '[' {
		var pair []string
		if err := json.Unmarshal(raw, &pair); err != nil {
			return "", "", false, err
		}
		if len(pair) != 2 {
			return "", "", false, fmt.Errorf("%d parts, want 2", len(pair))
		}
		return pair[0], pair[1], false, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", "", false, err
	}
	if strings.HasPrefix(s, "#version") {
		return "", "", true, nil
	}
	parts := strings.Split(s, " ")
	if len(parts) != 2 {
		return "", "", false, fmt.Errorf("%q: %d parts, want 2", s, len(parts))
	}
	return parts[0], parts[1], false, nil
}

// fastPair reads ["a", "b"] without escapes, the common case, much faster than json.Unmarshal.
func fastPair(raw []byte) (a, b string, ok bool) {
	if bytes.IndexByte(raw, '\\') >= 0 {
		return "", "", false
	}
	p := raw
	str := func() (string, bool) {
		p = bytes.TrimLeft(p, " \t\r\n")
		if len(p) == 0 || p[0] != '"' {
			return "", false
		}
		end := bytes.IndexByte(p[1:], '"')
		if end < 0 {
			return "", false
		}
		s := string(p[1 : 1+end])
		p = p[2+end:]
		return s, true
	}
	punct := func(c byte) bool {
		p = bytes.TrimLeft(p, " \t\r\n")
		if len(p) == 0 || p[0] != c {
			return false
		}
		p = p[1:]
		return true
	}
	if !punct('[') {
		return "", "", false
	}
	a, oka := str()
	if !oka || !punct(',') {
		return "", "", false
	}
	b, okb := str()
	if !okb || !punct(']') || len(bytes.TrimSpace(p)) != 0 {
		return "", "", false
	}
	return a, b, true
}

func (t *Tokenizer) buildAdded(list []addedTokenJSON) error {
	t.addedIndex = make(map[int]int, len(list))
	t.addedByContent = make(map[string]int, len(list))
	var raw, normalized []AddedToken
	for i, a := range list {
		switch {
		case a.ID == nil:
			return fmt.Errorf("added_tokens[%d]: missing id", i)
		case *a.ID < 0 || *a.ID >= maxID:
			return fmt.Errorf("added_tokens[%d]: id %d out of range", i, *a.ID)
		case a.Content == nil || *a.Content == "":
			return fmt.Errorf("added_tokens[%d]: empty content", i)
		}
		if _, dup := t.addedByContent[*a.Content]; dup {
			return fmt.Errorf("added_tokens[%d]: %q listed twice", i, *a.Content)
		}
		if _, dup := t.addedIndex[*a.ID]; dup {
			return fmt.Errorf("added_tokens[%d]: id %d used twice", i, *a.ID)
		}
		at := AddedToken{ID: *a.ID, Content: *a.Content, Special: a.Special, Normalized: a.Normalized,
			LStrip: a.LStrip, RStrip: a.RStrip, SingleWord: a.SingleWord}
		t.addedByContent[at.Content] = len(t.added)
		t.addedIndex[at.ID] = len(t.added)
		t.added = append(t.added, at)
		if at.ID >= len(t.tokens) {
			t.tokens = append(t.tokens, make([]string, at.ID+1-len(t.tokens))...)
		}
		t.tokens[at.ID] = at.Content
		if at.Normalized {
			at.Content = norm.NFC.String(at.Content)
			normalized = append(normalized, at)
		} else {
			raw = append(raw, at)
		}
	}
	t.rawAdded = newAddedMatcher(raw)
	t.normAdded = newAddedMatcher(normalized)
	return nil
}

func (t *Tokenizer) buildDecoder() {
	t.decOff = make([]int32, len(t.tokens)+1)
	for id, tok := range t.tokens {
		t.decBytes = append(t.decBytes, byteLevelDecode(tok)...)
		t.decOff[id+1] = int32(len(t.decBytes))
	}
}

func checkNormalizer(raw json.RawMessage) error {
	if isNull(raw) {
		return nil
	}
	var c component
	if err := json.Unmarshal(raw, &c); err != nil {
		return err
	}
	switch c.Type {
	case "NFC":
		return nil
	case "Sequence":
		for i, n := range c.Normalizers {
			if n.Type != "NFC" {
				return fmt.Errorf("normalizers[%d]: %q is not supported, only NFC", i, n.Type)
			}
		}
		return nil
	}
	return fmt.Errorf("%q is not supported, only NFC", c.Type)
}

// checkPreTokenizer accepts Qwen2's pre-tokenizer: Split on qwen2Pattern (Isolated) then ByteLevel
// without the prefix space and without its own regex.
func checkPreTokenizer(raw json.RawMessage) error {
	if isNull(raw) {
		return errors.New("missing; want Qwen2's Split + ByteLevel")
	}
	var c component
	if err := json.Unmarshal(raw, &c); err != nil {
		return err
	}
	if c.Type != "Sequence" || len(c.Pretokenizers) != 2 {
		return fmt.Errorf("%q is not supported; want a Sequence of Split and ByteLevel", c.Type)
	}
	split, bl := c.Pretokenizers[0], c.Pretokenizers[1]
	var pattern struct{ Regex string }
	if split.Type != "Split" {
		return fmt.Errorf("pretokenizers[0]: %q, want Split", split.Type)
	}
	if err := json.Unmarshal(split.Pattern, &pattern); err != nil || pattern.Regex != qwen2Pattern {
		return fmt.Errorf("pretokenizers[0].pattern: not Qwen2's split regex")
	}
	if split.Behavior != "Isolated" || split.Invert {
		return fmt.Errorf("pretokenizers[0]: behavior %q invert %v, want Isolated without invert", split.Behavior, split.Invert)
	}
	if bl.Type != "ByteLevel" || bl.AddPrefixSpace || (bl.UseRegex != nil && *bl.UseRegex) {
		return fmt.Errorf("pretokenizers[1]: want ByteLevel with add_prefix_space and use_regex false")
	}
	return nil
}

// checkByteLevelOrNull accepts null, ByteLevel, or a Sequence of ByteLevel (post-processors or decoders).
func checkByteLevelOrNull(raw json.RawMessage) error {
	if isNull(raw) {
		return nil
	}
	var c component
	if err := json.Unmarshal(raw, &c); err != nil {
		return err
	}
	items := []component{c}
	if c.Type == "Sequence" {
		items = append(c.Processors, c.Decoders...)
	}
	for _, it := range items {
		if it.Type != "ByteLevel" {
			return fmt.Errorf("%q is not supported, only ByteLevel", it.Type)
		}
	}
	return nil
}

func isNull(raw json.RawMessage) bool {
	s := bytes.TrimSpace(raw)
	return len(s) == 0 || string(s) == "null"
}

// VocabSize is the highest token id plus one, added tokens included.
func (t *Tokenizer) VocabSize() int { return len(t.tokens) }

// TokenID returns the id of a token string: an added token's content or a byte-level vocabulary entry.
func (t *Tokenizer) TokenID(tok string) (int, bool) {
	if i, ok := t.addedByContent[tok]; ok {
		return t.added[i].ID, true
	}
	id, ok := t.vocab[tok]
	return id, ok
}

// Token returns the string of token id (byte-level for vocabulary entries), or "" for an unknown id.
func (t *Tokenizer) Token(id int) string {
	if id < 0 || id >= len(t.tokens) {
		return ""
	}
	return t.tokens[id]
}

// EOS is the end-of-sequence id: tokenizer_config.json's eos_token, else <|endoftext|>, else −1.
func (t *Tokenizer) EOS() int { return t.eos }

// Pad is the padding id: tokenizer_config.json's pad_token, else the end-of-sequence id.
func (t *Tokenizer) Pad() int { return t.pad }

// IsSpecial reports whether id is an added token marked special.
func (t *Tokenizer) IsSpecial(id int) bool {
	i, ok := t.addedIndex[id]
	return ok && t.added[i].Special
}

// Vocab returns every token string by id ("" for ids nobody uses), for export.
func (t *Tokenizer) Vocab() []string { return append([]string(nil), t.tokens...) }

// Merges returns the merges in rank order as "a b" strings, for export.
func (t *Tokenizer) Merges() []string { return append([]string(nil), t.merges...) }

// AddedTokens returns the added tokens sorted by id.
func (t *Tokenizer) AddedTokens() []AddedToken {
	out := append([]AddedToken(nil), t.added...)
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}
