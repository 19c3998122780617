package eval

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata golden files")

func sampleReport() Report {
	results := []Result{
		{ID: "1", Line: 1, Input: "Say hi, \"politely\"", Output: "Hello,\nworld — ünïcode", Label: "ok", Predicted: "ok", Score: 1, Reason: "15 characters, 3 words"},
		{ID: "a-2", Line: 3, Input: "=cmd|' /C calc'!A0", Reference: "ref", Output: "", Label: "ok", Predicted: "not ok", Score: 1.0 / 3, Reason: "too short"},
		{ID: "3", Line: 4, Input: "x", Output: "y\r\nz", Label: "not ok", Predicted: "not ok", Score: 0, Reason: "no letter\tor digit"},
	}
	rep := Report{Results: results, Total: 4, Complete: false, Elapsed: 1500 * time.Millisecond}
	rep.Metrics = Compute([]string{"ok", "ok", "not ok"}, []string{"ok", "not ok", "not ok"}, "ok")
	return rep
}

func TestWriteOutputs(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run", "eval")
	rep := sampleReport()
	meta := Meta{Evaluator: "heuristic", EvaluatorVersion: "1.0.0", Settings: map[string]string{"min_chars": "5"},
		Model: "Qwen/Qwen2-0.5B", Adapter: "runs/x/adapter", ConfigHash: "sha256:abc", TestSet: "data/test.jsonl"}
	// Twice: the second write replaces the first.
	for range 2 {
		if err := WriteOutputs(dir, rep, meta); err != nil {
			t.Fatal(err)
		}
	}
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if strings.Join(names, " ") != "metrics.json predictions.csv predictions.jsonl" {
		t.Errorf("files %v (temporary files left?)", names)
	}

	var mf metricsFile
	data, err := os.ReadFile(filepath.Join(dir, MetricsFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &mf); err != nil {
		t.Fatal(err)
	}
	want := metricsFile{Meta: meta, Samples: 3, Total: 4, Complete: false, ElapsedSeconds: 1.5, Metrics: rep.Metrics}
	if !reflect.DeepEqual(mf, want) {
		t.Errorf("metrics.json round trip:\n got %+v\nwant %+v", mf, want)
	}
	for _, key := range []string{`"evaluator": "heuristic"`, `"evaluator_version": "1.0.0"`, `"model": "Qwen/Qwen2-0.5B"`, `"adapter": "runs/x/adapter"`, `"config_hash": "sha256:abc"`, `"accuracy":`, `"confusion":`} {
		if !strings.Contains(string(data), key) {
			t.Errorf("metrics.json lacks %s", key)
		}
	}

	f, err := os.Open(filepath.Join(dir, PredictionsJSONLFile))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var got []Result
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var p prediction
		if err := json.Unmarshal(sc.Bytes(), &p); err != nil {
			t.Fatal(err)
		}
		if p.Correct != p.Result.Correct() {
			t.Errorf("correct flag %v for %+v", p.Correct, p.Result)
		}
		got = append(got, p.Result)
	}
	if !reflect.DeepEqual(got, rep.Results) {
		t.Errorf("predictions.jsonl round trip:\n got %+v\nwant %+v", got, rep.Results)
	}

	cf, err := os.Open(filepath.Join(dir, PredictionsCSVFile))
	if err != nil {
		t.Fatal(err)
	}
	defer cf.Close()
	rows, err := csv.NewReader(cf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 4 || !reflect.DeepEqual(rows[0], predictionColumns) {
		t.Fatalf("csv rows %q", rows)
	}
	for i, r := range rep.Results {
		row := rows[i+1]
		// encoding/csv turns \r\n inside a field into \n on reading.
		if row[0] != r.ID || row[1] != r.Input || row[2] != strings.ReplaceAll(r.Output, "\r\n", "\n") || row[3] != r.Reference ||
			row[4] != r.Label || row[5] != r.Predicted || row[8] != r.Reason {
			t.Errorf("csv row %q for %+v", row, r)
		}
	}
	if rows[2][6] != "false" || rows[2][7] != "0.3333333333333333" {
		t.Errorf("csv correct/score %q", rows[2])
	}
}

func TestWriteOutputsError(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := WriteOutputs(file, sampleReport(), Meta{}); err == nil {
		t.Error("writing into a file succeeded")
	}
}

func TestFormatTable(t *testing.T) {
	tests := []struct {
		name string
		m    Metrics
	}{
		{"binary", sampleReport().Metrics},
		{"three classes", Compute([]string{"a", "a", "b", "c", "long label"}, []string{"a", "a", "a", "a", "long label"}, "c")},
		{"odd labels", Compute([]string{"", "tab\there"}, []string{"", "x"}, "")},
		{"empty", Compute(nil, nil, "ok")},
		{"unjudged", Compute([]string{"ok", "ok", "not ok", "not ok"}, []string{"ok", "unjudged", "ok", "unjudged"}, "ok")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := FormatTable(tt.m)
			golden := filepath.Join("testdata", strings.ReplaceAll(tt.name, " ", "_")+".table")
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if got != string(want) {
				t.Errorf("got\n%s\nwant\n%s", got, want)
			}
		})
	}
}
