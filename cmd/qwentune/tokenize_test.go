package main

import (
	"bytes"
	"strings"
	"testing"

	"qwentune/model/tokenizer"
)

// tokenize round-trips text and names stdin's line in its errors.
func TestTokenizeStream(t *testing.T) {
	tok := tokenizer.Builtin()
	var ids bytes.Buffer
	if err := tokenizeStream(strings.NewReader(`{"text": "Hello, world!"}`+"\n\n"), &ids, tok, false, false); err != nil {
		t.Fatal(err)
	}
	var text bytes.Buffer
	if err := tokenizeStream(&ids, &text, tok, true, false); err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(text.String()); got != `{"text":"Hello, world!"}` {
		t.Fatalf("round trip gave %s", got)
	}
	for _, c := range []struct {
		in     string
		decode bool
		want   string
	}{
		{"{\"text\": \"a\"}\n{\"txt\": \"b\"}\n", false, "stdin:2: want {\"text\""},
		{"not json\n", false, "stdin:1:"},
		{"{\"ids\": [1]}\n{\"ids\": [-1]}\n", true, "stdin:2: \"ids\": -1 is outside"},
		{"{\"ids\": \"x\"}\n", true, "stdin:1: want {\"ids\""},
	} {
		err := tokenizeStream(strings.NewReader(c.in), &bytes.Buffer{}, tok, c.decode, false)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("tokenize %q (decode %v): error %v, want one containing %q", c.in, c.decode, err, c.want)
		}
	}
}
