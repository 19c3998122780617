// Package eval runs an evaluation: it reads a test set, generates an answer
// for every input, has an evaluator plugin judge the answers in batches, and
// turns expected and predicted labels into metrics (accuracy, per-class
// precision/recall/F1, macro and weighted averages, confusion matrix). It
// also compares two runs (base vs fine-tuned) and writes the results.
package eval

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"qwentune/internal/jsonkeys"
)

// Sample is one row of a test set.
type Sample struct {
	// ID is the row's "id" field, or its line number when it has none.
	ID string `json:"id"`
	// Line is the 1-based line of the row in its file.
	Line int `json:"line"`
	// Input is the prompt given to the model.
	Input string `json:"input"`
	// Label is the expected label, trimmed.
	Label string `json:"label"`
	// Reference is the optional reference answer.
	Reference string `json:"reference,omitempty"`
}

// LineError is one problem with one row of a test set.
type LineError struct {
	// Line is the 1-based line number.
	Line int
	// Field is the JSON field at fault, "" for the row as a whole.
	Field string
	// Msg says what is wrong.
	Msg string
}

// TestSetError lists every bad row of a test set.
type TestSetError struct {
	// Path names the file.
	Path string
	// Lines holds the problems in file order.
	Lines []LineError
}

// maxListed bounds how many problems TestSetError.Error spells out.
const maxListed = 20

// Error lists the problems as "path:line: "field": message", one a line.
func (e *TestSetError) Error() string {
	var b strings.Builder
	for i, l := range e.Lines {
		if i == maxListed {
			fmt.Fprintf(&b, "\n... and %d more bad lines", len(e.Lines)-maxListed)
			break
		}
		if i > 0 {
			b.WriteByte('\n')
		}
		fmt.Fprintf(&b, "%s:%d: ", e.Path, l.Line)
		if l.Field != "" {
			fmt.Fprintf(&b, "%q: ", l.Field)
		}
		b.WriteString(l.Msg)
	}
	return b.String()
}

// CheckLabels refuses a test set with a label the evaluator cannot give
// (which would become a phantom class in the metrics): every such row is
// named with its line, e.g. label "maybe" on line 4 is not one of ok, not ok.
func CheckLabels(samples []Sample, labels []string, evaluator, path string) error {
	known := map[string]bool{}
	for _, l := range labels {
		known[l] = true
	}
	bad := &TestSetError{Path: path}
	for _, s := range samples {
		if !known[s.Label] {
			bad.Lines = append(bad.Lines, LineError{Line: s.Line, Msg: fmt.Sprintf("label %q on line %d is not one of %s (the labels of evaluator %s)",
				s.Label, s.Line, strings.Join(labels, ", "), evaluator)})
		}
	}
	if len(bad.Lines) > 0 {
		return bad
	}
	return nil
}

// LoadTestSet reads a JSON Lines test set: one object per line with a
// string "input", a string "label", and optionally a string "reference" and
// an "id" (string or integer); other fields are ignored. Blank lines, a
// UTF-8 byte order mark and CRLF line ends are accepted. Every bad row is
// reported in one *TestSetError naming file, line and field.
func LoadTestSet(path string) ([]Sample, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if m := fi.Mode(); !m.IsRegular() && m&os.ModeNamedPipe == 0 {
		return nil, fmt.Errorf("%s is not a regular file (%s): give a file of JSON lines", path, m.Type())
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxTestSetBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(data) > MaxTestSetBytes {
		return nil, fmt.Errorf("%s holds more than the limit of %d bytes", path, MaxTestSetBytes)
	}
	return ReadTestSet(bytes.NewReader(data), path)
}

// MaxTestSetBytes is the largest test set read (a constant: it guards the
// machine against a device or a runaway file, not the evaluation).
const MaxTestSetBytes = 1 << 30

// ReadTestSet is LoadTestSet reading from r; name labels the errors.
func ReadTestSet(r io.Reader, name string) ([]Sample, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	var (
		samples []Sample
		bad     = &TestSetError{Path: name}
		ids     = map[string]int{}
	)
	for n, line := range bytes.Split(data, []byte("\n")) {
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		s, problems := parseRow(line, n+1)
		if len(problems) == 0 {
			if first, dup := ids[s.ID]; dup {
				problems = append(problems, LineError{Line: n + 1, Field: "id", Msg: fmt.Sprintf("%q already used on line %d", s.ID, first)})
			} else {
				ids[s.ID] = n + 1
			}
		}
		if len(problems) > 0 {
			bad.Lines = append(bad.Lines, problems...)
			continue
		}
		samples = append(samples, s)
	}
	if len(bad.Lines) > 0 {
		return nil, bad
	}
	if len(samples) == 0 {
		return nil, fmt.Errorf("%s: no samples", name)
	}
	return samples, nil
}

// parseRow decodes one non-blank line.
func parseRow(line []byte, n int) (Sample, []LineError) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(line, &obj); err != nil || obj == nil {
		msg := "want a JSON object"
		var syn *json.SyntaxError
		if errors.As(err, &syn) {
			msg = "invalid JSON: " + err.Error()
		}
		return Sample{}, []LineError{{Line: n, Msg: msg}}
	}
	if key, where, dup := jsonkeys.Duplicate(line); dup {
		return Sample{}, []LineError{{Line: n, Field: key, Msg: jsonkeys.Describe(key, where)}}
	}
	s := Sample{Line: n, ID: strconv.Itoa(n)}
	var problems []LineError
	field := func(name string, required bool) string {
		raw, ok := obj[name]
		if !ok || string(raw) == "null" {
			if required {
				problems = append(problems, LineError{Line: n, Field: name, Msg: "missing"})
			}
			return ""
		}
		var v string
		if err := json.Unmarshal(raw, &v); err != nil {
			problems = append(problems, LineError{Line: n, Field: name, Msg: "want a string, got " + kind(raw)})
			return ""
		}
		if required && strings.TrimSpace(v) == "" {
			problems = append(problems, LineError{Line: n, Field: name, Msg: "empty"})
		}
		return v
	}
	s.Input = field("input", true)
	s.Label = strings.TrimSpace(field("label", true))
	s.Reference = field("reference", false)
	if raw, ok := obj["id"]; ok && string(raw) != "null" {
		var id string
		var num json.Number
		switch {
		case json.Unmarshal(raw, &id) == nil && strings.TrimSpace(id) != "":
			s.ID = strings.TrimSpace(id)
		case json.Unmarshal(raw, &num) == nil && isInteger(num):
			s.ID = num.String()
		default:
			problems = append(problems, LineError{Line: n, Field: "id", Msg: "want a non-empty string or an integer, got " + kind(raw)})
		}
	}
	return s, problems
}

func isInteger(n json.Number) bool {
	_, err := strconv.ParseInt(n.String(), 10, 64)
	return err == nil
}

// kind names the JSON type of raw for error messages.
func kind(raw json.RawMessage) string {
	switch raw[0] {
	case '"':
		return "a string"
	case '{':
		return "an object"
	case '[':
		return "an array"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}
