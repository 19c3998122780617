package eval

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"unicode/utf8"

	"qwentune/internal/atomicfile"
)

// Meta identifies what was evaluated, for metrics.json.
type Meta struct {
	// Evaluator and EvaluatorVersion come from the plugin's Info; Settings
	// are those passed to Configure.
	Evaluator        string            `json:"evaluator"`
	EvaluatorVersion string            `json:"evaluator_version"`
	Settings         map[string]string `json:"settings,omitempty"`
	// Model is the base model id or folder, Adapter the LoRA adapter folder
	// ("" for the base model alone).
	Model   string `json:"model"`
	Adapter string `json:"adapter,omitempty"`
	// ConfigHash is the hash of the resolved configuration of the run.
	ConfigHash string `json:"config_hash,omitempty"`
	// TestSet is the test set file.
	TestSet string `json:"test_set,omitempty"`
}

// metricsFile is the layout of metrics.json.
type metricsFile struct {
	Meta
	Samples        int     `json:"samples"`
	Total          int     `json:"total"`
	Complete       bool    `json:"complete"`
	ElapsedSeconds float64 `json:"elapsed_seconds"`
	Metrics        Metrics `json:"metrics"`
}

// prediction is one line of predictions.jsonl.
type prediction struct {
	Result
	Correct bool `json:"correct"`
}

// Output file names written by WriteOutputs.
const (
	MetricsFile          = "metrics.json"
	PredictionsJSONLFile = "predictions.jsonl"
	PredictionsCSVFile   = "predictions.csv"
)

// predictionColumns is the header of predictions.csv.
var predictionColumns = []string{"id", "input", "output", "reference", "label", "predicted", "correct", "score", "reason"}

// WriteOutputs writes metrics.json (meta, counts and metrics),
// predictions.jsonl and predictions.csv (one row per judged sample) into
// dir, creating it if needed. Each file is written to a temporary file and
// renamed, so a reader never sees a half-written file.
func WriteOutputs(dir string, r Report, meta Meta) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	mf := metricsFile{Meta: meta, Samples: len(r.Results), Total: r.Total, Complete: r.Complete, ElapsedSeconds: r.Elapsed.Seconds(), Metrics: r.Metrics}
	err := atomicfile.Write(filepath.Join(dir, MetricsFile), func(w io.Writer) error {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(mf)
	})
	if err != nil {
		return err
	}
	err = atomicfile.Write(filepath.Join(dir, PredictionsJSONLFile), func(w io.Writer) error {
		enc := json.NewEncoder(w)
		for _, res := range r.Results {
			if err := enc.Encode(prediction{Result: res, Correct: res.Correct()}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(dir, PredictionsCSVFile), func(w io.Writer) error {
		cw := csv.NewWriter(w)
		if err := cw.Write(predictionColumns); err != nil {
			return err
		}
		for _, res := range r.Results {
			row := []string{res.ID, res.Input, res.Output, res.Reference, res.Label, res.Predicted,
				strconv.FormatBool(res.Correct()), strconv.FormatFloat(res.Score, 'g', -1, 64), res.Reason}
			if err := cw.Write(row); err != nil {
				return err
			}
		}
		cw.Flush()
		return cw.Error()
	})
}

// FormatTable renders m for a terminal: accuracy, the positive label's
// precision/recall/F1, a per-class table with macro and weighted averages,
// and the confusion matrix (rows expected, columns predicted).
func FormatTable(m Metrics) string {
	var b strings.Builder
	fmt.Fprintf(&b, "accuracy  %.4f  (%d of %d correct)\n", m.Accuracy, m.Correct, m.Judged)
	if m.Unjudged > 0 {
		fmt.Fprintf(&b, "unjudged  %d of %d samples the evaluator could not judge, left out of every figure below\n", m.Unjudged, m.Total)
	}
	if m.Positive != "" {
		fmt.Fprintf(&b, "positive  %s: precision %.4f  recall %.4f  F1 %.4f\n", show(m.Positive), m.Precision, m.Recall, m.F1)
	}
	if len(m.Labels) == 0 {
		return b.String()
	}
	f := func(x float64) string { return strconv.FormatFloat(x, 'f', 4, 64) }
	rows := [][]string{{"label", "precision", "recall", "F1", "support"}}
	for _, c := range m.Classes {
		rows = append(rows, []string{show(c.Label), f(c.Precision), f(c.Recall), f(c.F1), strconv.Itoa(c.Support)})
	}
	rows = append(rows,
		[]string{"macro avg", f(m.Macro.Precision), f(m.Macro.Recall), f(m.Macro.F1), strconv.Itoa(m.Judged)},
		[]string{"weighted avg", f(m.Weighted.Precision), f(m.Weighted.Recall), f(m.Weighted.F1), strconv.Itoa(m.Judged)})
	b.WriteByte('\n')
	writeTable(&b, rows)

	b.WriteString("\nconfusion matrix (rows: expected, columns: predicted)\n")
	header := []string{""}
	for _, l := range m.Labels {
		header = append(header, show(l))
	}
	rows = [][]string{header}
	for i, l := range m.Labels {
		row := []string{show(l)}
		for _, n := range m.Confusion[i] {
			row = append(row, strconv.Itoa(n))
		}
		rows = append(rows, row)
	}
	writeTable(&b, rows)
	return b.String()
}

// writeTable aligns rows in columns two spaces apart: the first column
// left-aligned, the others right-aligned.
func writeTable(b *strings.Builder, rows [][]string) {
	var width []int
	for _, row := range rows {
		for j, cell := range row {
			if j == len(width) {
				width = append(width, 0)
			}
			width[j] = max(width[j], utf8.RuneCountInString(cell))
		}
	}
	for _, row := range rows {
		var line strings.Builder
		for j, cell := range row {
			pad := strings.Repeat(" ", width[j]-utf8.RuneCountInString(cell))
			if j == 0 {
				line.WriteString(cell + pad)
			} else {
				line.WriteString("  " + pad + cell)
			}
		}
		b.WriteString(strings.TrimRight(line.String(), " ") + "\n")
	}
}

// show makes a label safe for a one-line table cell: quoted when it is
// empty or holds tabs, newlines or other control characters.
func show(label string) string {
	if label == "" || strings.ContainsFunc(label, func(r rune) bool { return r < ' ' || r == 0x7f }) {
		return strconv.Quote(label)
	}
	return label
}
