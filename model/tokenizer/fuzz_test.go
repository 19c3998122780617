package tokenizer

import (
	"strings"
	"testing"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// FuzzEncode: encoding never panics; for valid UTF-8, decoding gives back the NFC text, and the
// stream decoder agrees with Decode.
func FuzzEncode(f *testing.F) {
	for _, s := range readCorpus(f) {
		f.Add(s)
	}
	f.Add("\xff\xfe<|im_start|>\xe2\x82")
	tok := Builtin()
	f.Fuzz(func(t *testing.T, s string) {
		ids := tok.Encode(s)
		for _, id := range ids {
			if id < 0 || id >= tok.VocabSize() {
				t.Fatalf("Encode(%q): id %d out of range", s, id)
			}
		}
		got := tok.Decode(ids, false)
		if utf8.ValidString(s) && got != nfcBetweenAdded(tok, s) {
			t.Fatalf("Decode(Encode(%q)) = %q", s, got)
		}
		d := tok.NewStreamDecoder()
		var b strings.Builder
		for _, id := range ids {
			b.WriteString(d.Add(id))
		}
		b.WriteString(d.Flush())
		if want := tok.Decode(ids, true); b.String() != want {
			t.Fatalf("stream %q, Decode %q", b.String(), want)
		}
	})
}

// nfcBetweenAdded is the text Encode sees: added tokens as written, NFC between them. (NFC of the
// whole text can differ: "<|im_end|>\u0338" composes '>' and U+0338 into '≯'.)
func nfcBetweenAdded(tok *Tokenizer, s string) string {
	var b strings.Builder
	tok.rawAdded.split(s, func(seg string) { b.WriteString(norm.NFC.String(seg)) }, func(id int) { b.WriteString(tok.Token(id)) })
	return b.String()
}

// FuzzParse: malformed tokenizer.json gives an error, never a panic; what parses can encode.
func FuzzParse(f *testing.F) {
	base := 256 + len(tinyMerges)
	f.Add(tinyDoc{merges: tinyMerges}.json())
	f.Add(tinyDoc{merges: tinyMerges, stringForm: true, ignore: true}.json())
	f.Add(tinyDoc{merges: tinyMerges, dropBytes: "ab", unk: "<unk>", fuseUnk: true}.json())
	f.Add(tinyDoc{merges: tinyMerges[:3], added: []map[string]any{added(base, "<s>", "lstrip", "rstrip"), added(base+1, "w", "single_word", "normalized")}}.json())
	f.Add([]byte(`{"model": {"vocab": {"a": 0}, "merges": []}}`))
	f.Add([]byte(`{"model": {"type": "BPE", "vocab": {"a": 4194303}, "merges": ["a a"]}}`))
	f.Add([]byte(`{"added_tokens": [{"id": 1, "content": "x"}], "model": null}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		tok, err := Parse(data, "fuzz.json")
		if err != nil {
			return
		}
		for _, s := range []string{"hello world", "<s> a\u0301 w", "\xff 12"} {
			ids := tok.Encode(s)
			tok.Decode(ids, false)
		}
		tok.ApplyChatTemplate([]Message{{Role: "user", Content: "hi"}}, true)
	})
}
