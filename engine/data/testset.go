package data

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
)

// TestExample is one row of test.jsonl: an input for the model, the
// expected label ("ok" / "not ok" in the seed data) and optionally a
// reference answer for evaluators that compare.
type TestExample struct {
	Line      int
	Input     string
	Label     string
	Reference string
}

// LoadTest reads an evaluation file of {"input", "label"} rows with an
// optional "reference"; other keys are ignored. Every bad row is reported at
// once, as an ErrorList, along with the good rows.
func LoadTest(path string) ([]TestExample, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ReadTest(f, path)
}

// ReadTest is LoadTest on a reader; name is the file name used in errors.
func ReadTest(r io.Reader, name string) ([]TestExample, error) {
	lr := &lineReader{r: bufio.NewReader(r)}
	var (
		out  []TestExample
		errs ErrorList
	)
	for {
		line, ok, err := lr.next()
		if err != nil {
			return out, fmt.Errorf("%s:%d: %w", name, lr.line+1, err)
		}
		if !ok {
			break
		}
		if strings.TrimSpace(line) == "" {
			continue
		}
		ex, rerr := parseTestRow(line)
		if rerr != nil {
			rerr.File, rerr.Line = name, lr.line
			errs = append(errs, rerr)
			continue
		}
		ex.Line = lr.line
		out = append(out, ex)
	}
	if len(out) == 0 && len(errs) == 0 {
		errs = append(errs, &Error{File: name, Message: "no rows"})
	}
	if len(errs) > 0 {
		return out, errs
	}
	return out, nil
}

func parseTestRow(line string) (TestExample, *Error) {
	if err := checkJSONObject(line); err != nil {
		return TestExample{}, err
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal([]byte(line), &obj); err != nil {
		return TestExample{}, &Error{Message: "invalid JSON: " + err.Error()}
	}
	input, err := stringField(obj, "input", true, false)
	if err != nil {
		return TestExample{}, err
	}
	label, err := stringField(obj, "label", true, true)
	if err != nil {
		return TestExample{}, err
	}
	ref, err := stringField(obj, "reference", false, false)
	if err != nil {
		return TestExample{}, err
	}
	return TestExample{Input: input, Label: strings.TrimSpace(label), Reference: ref}, nil
}
