package main

import (
	"bytes"
	"flag"
	"math"
	"slices"
	"strings"
	"testing"

	"qwentune/model/tokenizer"
)

func TestFmtETA(t *testing.T) {
	for _, c := range []struct {
		sec  float64
		want string
	}{
		{0, "0:00:00"}, {59.9, "0:00:59"}, {3725, "1:02:05"}, {-1, "?"}, {math.NaN(), "?"}, {math.Inf(1), "?"},
	} {
		if got := fmtETA(c.sec); got != c.want {
			t.Errorf("fmtETA(%g) = %q, want %q", c.sec, got, c.want)
		}
	}
}

// reorder lets flags follow the positional argument ("download ID --revision R").
func TestReorder(t *testing.T) {
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	fs.String("revision", "", "")
	fs.Bool("json", false, "")
	for _, c := range []struct {
		in, want []string
	}{
		{[]string{"Qwen/Qwen2-0.5B", "--revision", "v1"}, []string{"--revision", "v1", "Qwen/Qwen2-0.5B"}},
		{[]string{"id", "--json", "--revision=v2"}, []string{"--json", "--revision=v2", "id"}},
		{[]string{"--json", "a", "b"}, []string{"--json", "a", "b"}},
	} {
		if got := reorder(fs, c.in); !slices.Equal(got, c.want) {
			t.Errorf("reorder(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

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
