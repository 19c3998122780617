package eval

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestReadTestSet(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []Sample
	}{
		{
			name: "plain",
			in:   `{"input": "2+2?", "label": "ok"}` + "\n" + `{"input": "Capital of France?", "label": "not ok", "reference": "Paris"}` + "\n",
			want: []Sample{
				{ID: "1", Line: 1, Input: "2+2?", Label: "ok"},
				{ID: "2", Line: 2, Input: "Capital of France?", Label: "not ok", Reference: "Paris"},
			},
		},
		{
			name: "bom crlf blank lines extra fields",
			in:   "\ufeff\r\n" + `{"input": "a", "label": " ok ", "extra": [1]}` + "\r\n   \r\n" + `{"input": "b", "label": "ok", "reference": null}` + "\r\n",
			want: []Sample{
				{ID: "2", Line: 2, Input: "a", Label: "ok"},
				{ID: "4", Line: 4, Input: "b", Label: "ok"},
			},
		},
		{
			name: "ids and no final newline",
			in:   `{"id": "q-1", "input": "a", "label": "x"}` + "\n" + `{"id": 7, "input": "b", "label": "y"}`,
			want: []Sample{
				{ID: "q-1", Line: 1, Input: "a", Label: "x"},
				{ID: "7", Line: 2, Input: "b", Label: "y"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ReadTestSet(strings.NewReader(tt.in), "test.jsonl")
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestReadTestSetErrors(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"empty file", "", "test.jsonl: no samples"},
		{"only blanks", "\n \r\n\t\n", "test.jsonl: no samples"},
		{"invalid json", `{"input": "a", "label": "ok"` + "\n", "test.jsonl:1: invalid JSON: unexpected end of JSON input"},
		{"not an object", "[1, 2]\n", "test.jsonl:1: want a JSON object"},
		{"null row", "null\n", "test.jsonl:1: want a JSON object"},
		{"missing label", `{"input": "a"}`, `test.jsonl:1: "label": missing`},
		{"missing both", `{}`, "test.jsonl:1: \"input\": missing\ntest.jsonl:1: \"label\": missing"},
		{"label not string", `{"input": "a", "label": 1}`, `test.jsonl:1: "label": want a string, got a number`},
		{"input object", `{"input": {"x": 1}, "label": "ok"}`, `test.jsonl:1: "input": want a string, got an object`},
		{"blank input", `{"input": "  ", "label": "ok"}`, `test.jsonl:1: "input": empty`},
		{"blank label", `{"input": "a", "label": ""}`, `test.jsonl:1: "label": empty`},
		{"reference bool", `{"input": "a", "label": "ok", "reference": true}`, `test.jsonl:1: "reference": want a string, got a boolean`},
		{"bad id", `{"id": 1.5, "input": "a", "label": "ok"}`, `test.jsonl:1: "id": want a non-empty string or an integer, got a number`},
		{"duplicate id", `{"id": "a", "input": "a", "label": "ok"}` + "\n\n" + `{"id": "a", "input": "b", "label": "ok"}`, `test.jsonl:3: "id": "a" already used on line 1`},
		{"line numbers after good rows", `{"input": "a", "label": "ok"}` + "\r\n\r\n" + `{"input": "a", "label": []}`, `test.jsonl:3: "label": want a string, got an array`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ReadTestSet(strings.NewReader(tt.in), "test.jsonl")
			if err == nil || err.Error() != tt.want {
				t.Errorf("err = %v\nwant %s", err, tt.want)
			}
			if got != nil {
				t.Errorf("samples returned with an error: %v", got)
			}
		})
	}
}

func TestTestSetErrorListsAtMost20(t *testing.T) {
	in := strings.Repeat("{}\n", 30)
	_, err := ReadTestSet(strings.NewReader(in), "t")
	var tse *TestSetError
	if !errors.As(err, &tse) || len(tse.Lines) != 60 {
		t.Fatalf("err = %v", err)
	}
	msg := err.Error()
	if n := strings.Count(msg, "\n"); n != 20 || !strings.HasSuffix(msg, "... and 40 more bad lines") {
		t.Errorf("message has %d lines:\n%s", n, msg)
	}
}

func TestLoadTestSet(t *testing.T) {
	path := filepath.Join(t.TempDir(), "test.jsonl")
	if err := os.WriteFile(path, []byte(`{"input": "a", "label": "ok"}`+"\n"+`{"input": 3, "label": "ok"}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := LoadTestSet(path)
	if err == nil || err.Error() != path+`:2: "input": want a string, got a number` {
		t.Errorf("err = %v", err)
	}
	if _, err := LoadTestSet(filepath.Join(t.TempDir(), "missing.jsonl")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

func FuzzLoadTestSet(f *testing.F) {
	f.Add([]byte(`{"input": "a", "label": "ok"}` + "\n"))
	f.Add([]byte("\ufeff" + `{"id": 3, "input": "a", "label": "ok", "reference": "r"}` + "\r\n\r\n"))
	f.Add([]byte(`{"input": "a", "label": 1}` + "\n[]\nnull\n{"))
	f.Add([]byte(`{"id": "x", "input": "a", "label": "b"}` + "\n" + `{"id": "x", "input": "a", "label": "b"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		samples, err := ReadTestSet(strings.NewReader(string(data)), "f.jsonl")
		if err != nil {
			if samples != nil || err.Error() == "" {
				t.Fatalf("samples %v with error %v", samples, err)
			}
			var tse *TestSetError
			if errors.As(err, &tse) {
				for _, l := range tse.Lines {
					if l.Line < 1 || l.Msg == "" {
						t.Fatalf("bad LineError %+v", l)
					}
				}
			}
			return
		}
		if len(samples) == 0 {
			t.Fatal("no samples and no error")
		}
		ids := map[string]bool{}
		for i, s := range samples {
			if strings.TrimSpace(s.Input) == "" || s.Label == "" || s.Label != strings.TrimSpace(s.Label) || s.ID == "" || ids[s.ID] {
				t.Fatalf("bad sample %+v", s)
			}
			if i > 0 && s.Line <= samples[i-1].Line {
				t.Fatalf("lines not increasing: %v", samples)
			}
			ids[s.ID] = true
		}
	})
}

// The repository's test set loads and uses both labels.
func TestSeedTestSet(t *testing.T) {
	samples, err := LoadTestSet("../../data/test.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	labels := map[string]int{}
	for _, s := range samples {
		labels[s.Label]++
	}
	if len(samples) < 15 || labels["ok"] == 0 || labels["not ok"] == 0 || len(labels) != 2 {
		t.Errorf("test.jsonl: %d rows, labels %v", len(samples), labels)
	}
}
