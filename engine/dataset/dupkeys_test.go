package dataset

import (
	"strings"
	"testing"
)

// TestDuplicateKeysRefused: a row with a key twice, at the top or inside a
// message, is a bad row naming its line and the key.
func TestDuplicateKeysRefused(t *testing.T) {
	in := `{"prompt": "a", "completion": "b"}
{"prompt": "a", "completion": "b", "completion": "c"}
`
	_, _, err := ReadRows(strings.NewReader(in), "train.jsonl")
	if err == nil || !strings.Contains(err.Error(), `train.jsonl:2: duplicate key "completion"`) {
		t.Fatalf("top-level duplicate: %v", err)
	}
	in = `{"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b", "content": "c"}]}` + "\n"
	_, _, err = ReadRows(strings.NewReader(in), "train.jsonl")
	if err == nil || !strings.Contains(err.Error(), `train.jsonl:1: duplicate key "content" in messages[1]`) {
		t.Fatalf("nested duplicate: %v", err)
	}
}
