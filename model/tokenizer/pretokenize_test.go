package tokenizer

import (
	"reflect"
	"strings"
	"testing"
)

func split(s string) []string {
	var out []string
	splitWords(s, func(p string) { out = append(out, p) })
	return out
}

// TestSplitWords pins the pre-tokenizer on the cases where the order of the pattern's alternatives and
// its lookahead matter. TestEncodeMatchesJS checks the same scanner against transformers.js at scale.
func TestSplitWords(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"Hello world", []string{"Hello", " world"}},
		{"I'm you're WE'VE it'S", []string{"I", "'m", " you", "'re", " WE", "'VE", " it", "'S"}},
		{"'hello", []string{"'hello"}},   // no contraction: the apostrophe joins the letters
		{"'ll'd", []string{"'ll", "'d"}}, // contractions back to back
		{"x's", []string{"x", "'s"}},     // contraction beats [^\r\n\p{L}\p{N}]?\p{L}+
		{"'sa", []string{"'s", "a"}},     // first alternative wins, not the longest
		{"(word $x \tab", []string{"(word", " $", "x", " ", "\tab"}},
		{"a\u3000b", []string{"a", "\u3000b"}},       // U+3000 is white space yet joins the word after it
		{"12345", []string{"1", "2", "3", "4", "5"}}, // digits one by one
		{"a 1", []string{"a", " ", "1"}},             // a single space before a digit falls through to \s+
		{"a  1", []string{"a", " ", " ", "1"}},       // \s+(?!\S) leaves the last space
		{"x   y", []string{"x", "  ", " y"}},         // the last space goes to the word
		{"end   ", []string{"end", "   "}},           // white space at the end is taken whole
		{"a\n\nb", []string{"a", "\n\n", "b"}},       // \s*[\r\n]+
		{"a \n  b", []string{"a", " \n", " ", " b"}}, // ends at the last line break
		{"a\r\n\r\n  b", []string{"a", "\r\n\r\n", " ", " b"}},
		{"hi!!\n\nthere", []string{"hi", "!!\n\n", "there"}}, // punctuation takes trailing line breaks
		{"x ...y", []string{"x", " ...", "y"}},
		{"x  ...", []string{"x", " ", " ..."}},
		{"$\n", []string{"$\n"}},
		{"café", []string{"café"}},
		{"cafe\u0301", []string{"cafe", "\u0301"}},     // a combining mark is not \p{L}
		{"q\u0307x", []string{"q", "\u0307x"}},         // …but may lead the next letters
		{"\u00b2\u00b3", []string{"\u00b2", "\u00b3"}}, // superscripts are \p{N}
		{"你好，世界", []string{"你好", "，世界"}},
		{"😀😀 ok", []string{"😀😀", " ok"}},
		{"\xff\xfeab", []string{"\xff\xfe", "ab"}}, // invalid bytes count as "other" characters
		// Go-only cases: JavaScript's \s differs from Unicode White_Space on these two.
		{"a\u0085b", []string{"a", "\u0085b"}}, // NEL is white space
		{"a\u0085\u0085b", []string{"a", "\u0085", "\u0085b"}},
		{"a\ufeffb", []string{"a", "\ufeffb"}}, // BOM is not white space, so it is "other" and joins b
		{"a\ufeff\ufeffb", []string{"a", "\ufeff\ufeff", "b"}},
	}
	for _, tt := range tests {
		got := split(tt.in)
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("split(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if strings.Join(got, "") != tt.in {
			t.Errorf("split(%q) does not cover the input", tt.in)
		}
	}
}
