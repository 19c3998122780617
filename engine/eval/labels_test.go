package eval

import (
	"strings"
	"testing"
)

// TestUnknownLabelAndDuplicateKeys: a label the evaluator cannot give is an
// error naming its line (it used to become a phantom class), and a row with
// a repeated key is an error naming the line and the key (the last value
// used to win).
func TestUnknownLabelAndDuplicateKeys(t *testing.T) {
	in := `{"input": "a", "label": "ok"}
{"input": "b", "label": "not ok"}

{"input": "c", "label": "maybe"}
`
	samples, err := ReadTestSet(strings.NewReader(in), "test.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	err = CheckLabels(samples, []string{"ok", "not ok"}, "heuristic", "test.jsonl")
	if err == nil || !strings.Contains(err.Error(), `test.jsonl:4: label "maybe" on line 4 is not one of ok, not ok`) {
		t.Fatalf("unknown label: %v", err)
	}
	if err := CheckLabels(samples[:2], []string{"ok", "not ok"}, "heuristic", "test.jsonl"); err != nil {
		t.Fatal(err)
	}
	_, err = ReadTestSet(strings.NewReader(`{"input": "a", "label": "ok"}`+"\n"+`{"input": "a", "label": "ok", "label": "not ok"}`+"\n"), "test.jsonl")
	if err == nil || !strings.Contains(err.Error(), `test.jsonl:2: "label": duplicate key "label"`) {
		t.Fatalf("duplicate key: %v", err)
	}
}

// TestTestSetMustBeAFile: a device as test set is refused at once (it used
// to be read without end).
func TestTestSetMustBeAFile(t *testing.T) {
	if _, err := LoadTestSet("/dev/zero"); err == nil || !strings.Contains(err.Error(), "/dev/zero is not a regular file") {
		t.Fatalf("/dev/zero: %v", err)
	}
}
