package tokenizer

import (
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

// tinyDoc is a small byte-level BPE tokenizer.json for unit tests: ids 0–255 are the bytes in byte
// order, then one id per merge, then the added tokens.
type tinyDoc struct {
	merges     [][2]string // byte-level strings
	added      []map[string]any
	stringForm bool // write merges as "a b" (with a #version line) instead of pairs
	ignore     bool
	dropBytes  string // bytes left out of the vocabulary
	unk        string
	fuseUnk    bool
}

var tinyMerges = [][2]string{{"h", "e"}, {"l", "l"}, {"he", "ll"}, {"hell", "o"}, {"Ġ", "w"}, {"o", "r"}, {"Ġw", "or"}, {"Ġwor", "ld"}, {"l", "d"}, {"Ġ", "Ġ"}}

func (d tinyDoc) json() []byte {
	vocab := map[string]int{}
	for b := 0; b < 256; b++ {
		if !strings.ContainsRune(d.dropBytes, rune(b)) {
			vocab[string(byteToRune[b])] = b
		}
	}
	var merges []any
	if d.stringForm {
		merges = append(merges, "#version: 0.2")
	}
	for i, m := range d.merges {
		vocab[m[0]+m[1]] = 256 + i
		if d.stringForm {
			merges = append(merges, m[0]+" "+m[1])
		} else {
			merges = append(merges, []string{m[0], m[1]})
		}
	}
	if d.unk != "" {
		vocab[d.unk] = 256 + len(d.merges)
	}
	model := map[string]any{"type": "BPE", "vocab": vocab, "merges": merges, "ignore_merges": d.ignore, "fuse_unk": d.fuseUnk}
	if d.unk != "" {
		model["unk_token"] = d.unk
	}
	doc := map[string]any{
		"added_tokens": d.added,
		"normalizer":   map[string]any{"type": "NFC"},
		"pre_tokenizer": map[string]any{"type": "Sequence", "pretokenizers": []any{
			map[string]any{"type": "Split", "pattern": map[string]any{"Regex": qwen2Pattern}, "behavior": "Isolated", "invert": false},
			map[string]any{"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": false, "use_regex": false},
		}},
		"post_processor": map[string]any{"type": "ByteLevel"},
		"decoder":        map[string]any{"type": "ByteLevel"},
		"model":          model,
	}
	b, err := json.Marshal(doc)
	if err != nil {
		panic(err)
	}
	return b
}

func mustParse(tb testing.TB, data []byte) *Tokenizer {
	tb.Helper()
	t, err := Parse(data, "test.json")
	if err != nil {
		tb.Fatal(err)
	}
	return t
}

func added(id int, content string, opts ...string) map[string]any {
	m := map[string]any{"id": id, "content": content, "special": true}
	for _, o := range opts {
		m[o] = true
	}
	return m
}

func TestTinyBPE(t *testing.T) {
	pairs := mustParse(t, tinyDoc{merges: tinyMerges}.json())
	strs := mustParse(t, tinyDoc{merges: tinyMerges, stringForm: true}.json())
	if !reflect.DeepEqual(pairs.Merges(), strs.Merges()) {
		t.Fatalf("merges differ: %q vs %q", pairs.Merges(), strs.Merges())
	}
	tests := []struct {
		in   string
		want []int
	}{
		{"hello world", []int{259, 263}},
		{"hell", []int{258}},
		{"helo", []int{256, 'l', 'o'}},
		{"  world", []int{' ', 263}},
		{"   x", []int{265, ' ', 'x'}},
		{"", []int{}},
	}
	for _, tt := range tests {
		for name, tok := range map[string]*Tokenizer{"pairs": pairs, "strings": strs} {
			if got := tok.Encode(tt.in); !equalInts(got, tt.want) {
				t.Errorf("%s: Encode(%q) = %v, want %v", name, tt.in, got, tt.want)
			}
		}
	}
}

func TestIgnoreMerges(t *testing.T) {
	// "lld" is in the vocabulary (merge l+ld, ranked last), but BPE on "lld" merges l+l first and
	// never reaches it; with ignore_merges a word found whole in the vocabulary is taken as is.
	merges := append(append([][2]string{}, tinyMerges...), [2]string{"l", "ld"})
	lld := 256 + len(merges) - 1
	with := mustParse(t, tinyDoc{merges: merges, ignore: true}.json())
	without := mustParse(t, tinyDoc{merges: merges}.json())
	if got := without.Encode("lld"); !equalInts(got, []int{257, 'd'}) {
		t.Errorf("merges: Encode(lld) = %v", got)
	}
	if got := with.Encode("lld"); !equalInts(got, []int{lld}) {
		t.Errorf("ignore_merges: Encode(lld) = %v", got)
	}
	for _, s := range []string{"hello world", "lldl", " lld"} {
		if a, b := with.Encode(s), without.Encode(s); !equalInts(a, b) {
			t.Errorf("Encode(%q): ignore_merges %v, merges %v", s, a, b)
		}
	}
}

func TestUnknownBytes(t *testing.T) {
	drop := mustParse(t, tinyDoc{merges: tinyMerges, dropBytes: "xy"}.json())
	if got := drop.Encode("axyb"); !equalInts(got, []int{'a', 'b'}) {
		t.Errorf("without unk: %v, want the missing bytes dropped", got)
	}
	unk := 256 + len(tinyMerges)
	withUnk := mustParse(t, tinyDoc{merges: tinyMerges, dropBytes: "xy", unk: "<unk>"}.json())
	if got := withUnk.Encode("axyb"); !equalInts(got, []int{'a', unk, unk, 'b'}) {
		t.Errorf("unk: %v", got)
	}
	fused := mustParse(t, tinyDoc{merges: tinyMerges, dropBytes: "xy", unk: "<unk>", fuseUnk: true}.json())
	if got := fused.Encode("axyb"); !equalInts(got, []int{'a', unk, 'b'}) {
		t.Errorf("fuse_unk: %v", got)
	}
}

func TestAddedTokens(t *testing.T) {
	base := 256 + len(tinyMerges)
	doc := tinyDoc{merges: tinyMerges, added: []map[string]any{
		added(base, "<s>"),
		added(base+1, "<sep>"),
		added(base+2, "<L>", "lstrip"),
		added(base+3, "<R>", "rstrip"),
		added(base+4, "tok", "single_word"),
		added(base+5, "é!", "normalized"),
		added(base+6, "e\u0301?"), // raw: only matches the decomposed text
	}}
	doc.added[1]["special"] = false
	tok := mustParse(t, doc.json())
	s, sep, l, r, word, nfc, raw := base, base+1, base+2, base+3, base+4, base+5, base+6
	tests := []struct {
		in   string
		want []int
	}{
		{"<s>hello<s>", []int{s, 259, s}},
		{"<sep>", []int{sep}}, // leftmost-longest: <sep> beats <s…
		{"<s<sep>", []int{'<', 's', sep}},
		{"hello  <L>x", []int{259, l, 'x'}},          // lstrip swallows the spaces on the left
		{"x<R> \n hello", []int{'x', r, 259}},        // rstrip swallows those on the right
		{"a tok b", []int{'a', ' ', word, ' ', 'b'}}, // single word: matched
		{"atok", []int{'a', 't', 'o', 'k'}},          // inside a word: not matched
		{"tok_", []int{'t', 'o', 'k', '_'}},
		{"e\u0301!", []int{nfc}}, // normalized: matched after NFC
		{"é!", []int{nfc}},
		{"e\u0301?", []int{raw}}, // not normalized: matched on the raw text
	}
	for _, tt := range tests {
		if got := tok.Encode(tt.in); !equalInts(got, tt.want) {
			t.Errorf("Encode(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
	if !tok.IsSpecial(s) || tok.IsSpecial(sep) || tok.IsSpecial('a') {
		t.Errorf("IsSpecial wrong")
	}
	if got := tok.Decode([]int{s, 259, sep}, true); got != "hello<sep>" {
		t.Errorf("Decode skipSpecial = %q", got)
	}
	if got := tok.Decode([]int{s, 259, sep}, false); got != "<s>hello<sep>" {
		t.Errorf("Decode = %q", got)
	}
	if id, ok := tok.TokenID("<R>"); !ok || id != r {
		t.Errorf("TokenID(<R>) = %d, %v", id, ok)
	}
	if tok.VocabSize() != base+7 || tok.Token(nfc) != "é!" {
		t.Errorf("VocabSize %d, Token %q", tok.VocabSize(), tok.Token(nfc))
	}
}

func TestParseErrors(t *testing.T) {
	good := tinyDoc{merges: tinyMerges}
	tests := []struct {
		name string
		doc  []byte
		want string
	}{
		{"not json", []byte("{\n  \"model\": {,"), "test.json:2:13: invalid character ','"},
		{"wrong type", []byte("{\"model\": {\"vocab\": []}}"), "test.json:1:21: json: cannot unmarshal array"},
		{"no model", []byte(`{"normalizer": null}`), `missing "model"`},
		{"wrong model", mod(good, func(m map[string]any) { m["model"].(map[string]any)["type"] = "WordPiece" }), "only BPE"},
		{"byte fallback", mod(good, func(m map[string]any) { m["model"].(map[string]any)["byte_fallback"] = true }), "byte_fallback"},
		{"negative id", mod(good, func(m map[string]any) { m["model"].(map[string]any)["vocab"].(map[string]any)["zz"] = -1 }), "out of range"},
		{"huge id", mod(good, func(m map[string]any) { m["model"].(map[string]any)["vocab"].(map[string]any)["zz"] = 1 << 30 }), "out of range"},
		{"duplicate id", mod(good, func(m map[string]any) { m["model"].(map[string]any)["vocab"].(map[string]any)["zz"] = 3 }), "used twice"},
		{"merge parts", mod(good, func(m map[string]any) { m["model"].(map[string]any)["merges"] = []any{"a b c"} }), "merges[0]"},
		{"merge pair", mod(good, func(m map[string]any) { m["model"].(map[string]any)["merges"] = []any{[]any{"a"}} }), "merges[0]"},
		{"merge type", mod(good, func(m map[string]any) { m["model"].(map[string]any)["merges"] = []any{7} }), "merges[0]"},
		{"merge unknown", mod(good, func(m map[string]any) { m["model"].(map[string]any)["merges"] = []any{"q z"} }), `"qz" is not in the vocabulary`},
		{"normalizer", mod(good, func(m map[string]any) { m["normalizer"] = map[string]any{"type": "NFKC"} }), "normalizer"},
		{"pre-tokenizer", mod(good, func(m map[string]any) { m["pre_tokenizer"] = map[string]any{"type": "Whitespace"} }), "pre_tokenizer"},
		{"pattern", mod(good, func(m map[string]any) {
			m["pre_tokenizer"].(map[string]any)["pretokenizers"].([]any)[0].(map[string]any)["pattern"] = map[string]any{"Regex": `\s+`}
		}), "split regex"},
		{"decoder", mod(good, func(m map[string]any) { m["decoder"] = map[string]any{"type": "WordPiece"} }), "decoder"},
		{"post-processor", mod(good, func(m map[string]any) { m["post_processor"] = map[string]any{"type": "TemplateProcessing"} }), "post_processor"},
		{"added no id", mod(good, func(m map[string]any) { m["added_tokens"] = []any{map[string]any{"content": "x"}} }), "added_tokens[0]: missing id"},
		{"added empty", mod(good, func(m map[string]any) { m["added_tokens"] = []any{map[string]any{"id": 300, "content": ""}} }), "empty content"},
		{"added twice", mod(good, func(m map[string]any) { m["added_tokens"] = []any{added(300, "x"), added(301, "x")} }), "listed twice"},
		{"added same id", mod(good, func(m map[string]any) { m["added_tokens"] = []any{added(300, "x"), added(300, "y")} }), "used twice"},
		{"unk missing", mod(good, func(m map[string]any) { m["model"].(map[string]any)["unk_token"] = "<nope>" }), "unk_token"},
	}
	for _, tt := range tests {
		_, err := Parse(tt.doc, "test.json")
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want it to mention %q", tt.name, err, tt.want)
		}
	}
}

// mod applies f to the decoded JSON of d and re-encodes it.
func mod(d tinyDoc, f func(map[string]any)) []byte {
	var m map[string]any
	if err := json.Unmarshal(d.json(), &m); err != nil {
		panic(err)
	}
	f(m)
	b, err := json.Marshal(m)
	if err != nil {
		panic(err)
	}
	return b
}

// TestRoundTrip: Decode(Encode(s)) is NFC(s) for the full Qwen tokenizer.
func TestRoundTrip(t *testing.T) {
	tok := qwen(t)
	for _, s := range append(readCorpus(t), mixedCorpus(2, 50_000)...) {
		if got := tok.Decode(tok.Encode(s), false); got != nfcBetweenAdded(tok, s) {
			t.Errorf("Decode(Encode(%q)) = %q", s, got)
		}
	}
}

func TestLossyString(t *testing.T) {
	tests := []struct{ in, want string }{
		{"abc", "abc"},
		{"\xff", "\ufffd"},
		{"\xff\xfe", "\ufffd\ufffd"},
		{"\xe2\x82", "\ufffd"}, // a truncated sequence is one maximal subpart
		{"\xe2\x82a", "\ufffda"},
		{"\xe2\x82\xac", "€"},
		{"\xed\xa0\x80", "\ufffd\ufffd\ufffd"}, // surrogates are not a valid prefix beyond the lead
		{"\xf0\x9f\x98", "\ufffd"},
		{"\xf0\x9f\x98\x80", "😀"},
		{"\xc0\xaf", "\ufffd\ufffd"},
		{"\ufffd", "\ufffd"},
	}
	for _, tt := range tests {
		if got := lossyString([]byte(tt.in)); got != tt.want {
			t.Errorf("lossyString(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestStreamDecoder: the pieces never split a character and add up to Decode(ids, true).
func TestStreamDecoder(t *testing.T) {
	tok := qwen(t)
	texts := append(readCorpus(t), "😀😃😄 日本語のテキスト 👨‍👩‍👧‍👦 𓀀𓀁 𝄞 🫠", "<|im_start|>assistant\n𓀀<|im_end|>")
	split := false
	for _, s := range texts {
		ids := tok.Encode(s)
		d := tok.NewStreamDecoder()
		var b strings.Builder
		for _, id := range ids {
			piece := d.Add(id)
			if strings.ContainsRune(piece, utf8.RuneError) && !strings.ContainsRune(s, utf8.RuneError) {
				t.Errorf("%q: piece %q holds a broken character", s, piece)
			}
			if !utf8.Valid(tok.appendBytes(nil, id, true)) {
				split = true
			}
			b.WriteString(piece)
		}
		b.WriteString(d.Flush())
		if want := tok.Decode(ids, true); b.String() != want {
			t.Errorf("stream %q, Decode %q", b.String(), want)
		}
	}
	if !split {
		t.Error("no token in the corpus splits a character; the test proves nothing")
	}
	// Bytes that can never finish are emitted at once; an unfinished tail at Flush becomes U+FFFD.
	d := tok.NewStreamDecoder()
	first := tok.Encode("𓀀")
	if len(first) < 2 {
		t.Fatalf("𓀀 is one token %v; pick a character that is split", first)
	}
	if got := d.Add(first[0]); got != "" {
		t.Errorf("half a character emitted: %q", got)
	}
	if got := d.Flush(); got != "\ufffd" {
		t.Errorf("Flush of half a character = %q", got)
	}
}

// TestBPEPathsAgree checks the scan and heap forms of BPE against each other on random words.
func TestBPEPathsAgree(t *testing.T) {
	tok := qwen(t)
	r := rand.New(rand.NewPCG(3, 4))
	alphabet := []string{"a", "b", "e", "n", "t", "s", " ", "é", "中", "😀", "\n", "0", "th", "in", "er"}
	for i := 0; i < 2000; i++ {
		var b strings.Builder
		for n := r.IntN(120); n > 0; n-- {
			b.WriteString(alphabet[r.IntN(len(alphabet))])
		}
		w := b.String()
		syms := make([]int32, 0, len(w))
		for j := 0; j < len(w); j++ {
			syms = append(syms, tok.byteID[w[j]])
		}
		scan := tok.bpeScanAll(append([]int32(nil), syms...))
		heap := tok.bpeHeap(append([]int32(nil), syms...))
		if len(syms) > 0 && !reflect.DeepEqual(scan, heap) {
			t.Fatalf("%q: scan %v, heap %v", w, scan, heap)
		}
	}
}

// bpeScanAll is bpeScan without its length limit, for comparing the two paths on long words.
func (t *Tokenizer) bpeScanAll(syms []int32) []int32 {
	for len(syms) > 1 {
		best, bestRank, bestID := -1, uint32(noRank), int32(0)
		for k := 0; k+1 < len(syms); k++ {
			if r, id := t.pairRank(syms[k], syms[k+1]); r < bestRank {
				best, bestRank, bestID = k, r, id
			}
		}
		if best < 0 {
			break
		}
		syms[best] = bestID
		syms = append(syms[:best+1], syms[best+2:]...)
	}
	return syms
}

func writeFiles(tb testing.TB, dir string, files map[string]string) {
	tb.Helper()
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			tb.Fatal(err)
		}
	}
}

func TestConfig(t *testing.T) {
	base := 256 + len(tinyMerges)
	doc := string(tinyDoc{merges: tinyMerges, added: []map[string]any{
		added(base, "<|endoftext|>"), added(base+1, "<|im_start|>"), added(base+2, "<|im_end|>"), added(base+3, "<bos>"),
	}}.json())
	tests := []struct {
		name            string
		config, jinja   string
		eos, pad        int
		template, error string
	}{
		{"no config", "", "", base, base, "", ""},
		{"strings", `{"eos_token": "<|im_end|>", "pad_token": "<|endoftext|>", "chat_template": "T"}`, "", base + 2, base, "T", ""},
		{"pad defaults to eos", `{"eos_token": "<|im_end|>"}`, "", base + 2, base + 2, "", ""},
		{"object form", `{"eos_token": {"content": "<|im_end|>", "lstrip": false}, "bos_token": "<bos>"}`, "", base + 2, base + 2, "", ""},
		{"template list", `{"chat_template": [{"name": "tool_use", "template": "A"}, {"name": "default", "template": "B"}]}`, "", base, base, "B", ""},
		{"template list without default", `{"chat_template": [{"name": "x", "template": "A"}]}`, "", base, base, "A", ""},
		{"jinja file wins", `{"chat_template": "T"}`, "J", base, base, "J", ""},
		{"unknown eos", `{"eos_token": "<nope>"}`, "", 0, 0, "", "eos_token"},
		{"bad eos", `{"eos_token": 3}`, "", 0, 0, "", "eos_token"},
		{"bad template", `{"chat_template": 3}`, "", 0, 0, "", "chat_template"},
		{"not an object", `[1]`, "", 0, 0, "", "tokenizer_config.json"},
	}
	for _, tt := range tests {
		dir := t.TempDir()
		files := map[string]string{"tokenizer.json": doc}
		if tt.config != "" {
			files["tokenizer_config.json"] = tt.config
		}
		if tt.jinja != "" {
			files["chat_template.jinja"] = tt.jinja
		}
		writeFiles(t, dir, files)
		for _, path := range []string{dir, filepath.Join(dir, "tokenizer.json")} {
			tok, err := Load(path)
			if tt.error != "" {
				if err == nil || !strings.Contains(err.Error(), tt.error) {
					t.Errorf("%s: err = %v, want %q", tt.name, err, tt.error)
				}
				continue
			}
			if err != nil {
				t.Fatalf("%s: %v", tt.name, err)
			}
			if tok.EOS() != tt.eos || tok.Pad() != tt.pad || tok.HasChatTemplate() != (tt.template != "") ||
				(tt.template != "" && tok.ChatTemplate() != tt.template) {
				t.Errorf("%s: eos %d pad %d template %q, want %d %d %q", tt.name, tok.EOS(), tok.Pad(), tok.ChatTemplate(), tt.eos, tt.pad, tt.template)
			}
		}
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("Load of a missing path succeeded")
	}
}

// TestSaveFiles: saving copies the loaded files byte for byte, adds a chat template to a config
// without one, and writes a loadable config for a tokenizer parsed without one.
func TestSaveFiles(t *testing.T) {
	base := 256 + len(tinyMerges)
	doc := string(tinyDoc{merges: tinyMerges, added: []map[string]any{added(base, "<|endoftext|>"), added(base+1, "<|im_end|>")}}.json())
	cases := []struct {
		name  string
		files map[string]string
	}{
		{"with template", map[string]string{"tokenizer.json": doc, "tokenizer_config.json": `{"eos_token": "<|im_end|>", "chat_template": "X{{ messages[0].content }}"}` + "\n"}},
		{"jinja", map[string]string{"tokenizer.json": doc, "tokenizer_config.json": `{"eos_token": "<|im_end|>"}`, "chat_template.jinja": "J"}},
		{"no template", map[string]string{"tokenizer.json": doc, "tokenizer_config.json": `{"eos_token": "<|im_end|>", "model_max_length": 1e30}`}},
		{"empty config", map[string]string{"tokenizer.json": doc, "tokenizer_config.json": `{}`}},
		{"no config", map[string]string{"tokenizer.json": doc}},
	}
	for _, c := range cases {
		src, dst := t.TempDir(), filepath.Join(t.TempDir(), "out")
		writeFiles(t, src, c.files)
		tok, err := Load(src)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if err := tok.SaveFiles(dst); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		back, err := Load(dst)
		if err != nil {
			t.Fatalf("%s: reload: %v", c.name, err)
		}
		if back.EOS() != tok.EOS() || back.Pad() != tok.Pad() || back.ChatTemplate() != tok.ChatTemplate() || !back.HasChatTemplate() {
			t.Errorf("%s: reload differs: eos %d/%d template %q/%q", c.name, back.EOS(), tok.EOS(), back.ChatTemplate(), tok.ChatTemplate())
		}
		for name, data := range c.files {
			got, err := os.ReadFile(filepath.Join(dst, name))
			if err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			if name == "tokenizer_config.json" && !strings.Contains(data, "chat_template") && c.files["chat_template.jinja"] == "" {
				var before, after map[string]json.RawMessage
				if err := json.Unmarshal([]byte(data), &before); err != nil {
					t.Fatal(err)
				}
				if err := json.Unmarshal(got, &after); err != nil {
					t.Fatalf("%s: saved config: %v", c.name, err)
				}
				for k, v := range before {
					if string(after[k]) != string(v) {
						t.Errorf("%s: config %q changed from %s to %s", c.name, k, v, after[k])
					}
				}
				if len(after) != len(before)+1 || after["chat_template"] == nil {
					t.Errorf("%s: config %s: want the original plus a chat template", c.name, got)
				}
				continue
			}
			if string(got) != data {
				t.Errorf("%s: %s changed:\n%s", c.name, name, got)
			}
		}
	}
}

func TestChatTemplateFallback(t *testing.T) {
	if got := readTemplates(t)["Qwen2-Instruct"]; got != ChatMLTemplate {
		t.Fatalf("ChatMLTemplate differs from Qwen2-Instruct's template:\n%q\n%q", ChatMLTemplate, got)
	}
	tok := mustParse(t, tinyDoc{merges: tinyMerges}.json())
	if tok.HasChatTemplate() {
		t.Fatal("HasChatTemplate without a template")
	}
	got, err := tok.ApplyChatTemplate([]Message{{Role: "user", Content: "Hi"}, {Role: "assistant", Content: "Hello"}}, true)
	want := "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n" +
		"<|im_start|>assistant\nHello<|im_end|>\n<|im_start|>assistant\n"
	if err != nil || got != want {
		t.Errorf("ApplyChatTemplate = %q, %v\nwant %q", got, err, want)
	}
	got, _ = tok.ApplyChatTemplate([]Message{{Role: "system", Content: "S"}, {Role: "user", Content: "U"}}, false)
	if want := "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nU<|im_end|>\n"; got != want {
		t.Errorf("with system: %q", got)
	}
	bad := mustParse(t, tinyDoc{merges: tinyMerges}.json())
	bad.chatTemplate = "{% for %}"
	if _, err := bad.ApplyChatTemplate(nil, false); err == nil {
		t.Error("a broken template rendered")
	}
	raise := mustParse(t, tinyDoc{merges: tinyMerges}.json())
	raise.chatTemplate = "{{ raise_exception('no') }}"
	if _, err := raise.ApplyChatTemplate(nil, false); err == nil {
		t.Error("raise_exception did not fail")
	}
}

// TestConcurrentEncode shares one tokenizer (and its word cache) between goroutines; run with -race.
func TestConcurrentEncode(t *testing.T) {
	tok := Builtin()
	texts := mixedCorpus(5, 20_000)
	want := make([][]int, len(texts))
	for i, s := range texts {
		want[i] = tok.Encode(s)
	}
	done := make(chan bool)
	for g := 0; g < 4; g++ {
		go func() {
			ok := true
			for i := range texts {
				ok = ok && equalInts(tok.Encode(texts[i]), want[i])
			}
			_, err := tok.ApplyChatTemplate([]Message{{Role: "user", Content: "hi"}}, true)
			done <- ok && err == nil
		}()
	}
	for g := 0; g < 4; g++ {
		if !<-done {
			t.Error("concurrent Encode or ApplyChatTemplate differed")
		}
	}
}
