package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"qwentune/plugins/evaluators"
)

// Labels emitted by the heuristic evaluator, the positive one first.
const (
	labelOK    = "ok"
	labelNotOK = "not ok"
)

var heuristicSettings = []evaluators.Setting{
	{Name: "min_chars", Default: "5", Description: "the trimmed output must have more than this many characters"},
	{Name: "min_words", Default: "2", Description: "the output must have more than this many whitespace-separated words"},
}

// heuristic judges an output by its shape alone: more than min_chars
// characters (after trimming), more than min_words words, and at least one
// letter or digit. It catches empty, truncated and degenerate answers.
type heuristic struct {
	mu       sync.Mutex
	minChars int
	minWords int
}

func newHeuristic() *heuristic {
	h := &heuristic{}
	if err := h.Configure(context.Background(), nil); err != nil {
		panic(err) // the defaults above are constants that parse
	}
	return h
}

func (h *heuristic) Info(context.Context) (evaluators.Info, error) {
	return evaluators.Info{
		Name:        "heuristic",
		Version:     "1.0.0",
		Description: "Flags empty, too short or symbol-only answers: ok when the answer has more than min_chars characters, more than min_words words and a letter or digit.",
		Labels:      []string{labelOK, labelNotOK},
		Settings:    heuristicSettings,
	}, nil
}

func (h *heuristic) Configure(_ context.Context, settings map[string]string) error {
	s, err := evaluators.Resolve(heuristicSettings, settings)
	if err != nil {
		return err
	}
	minChars, err := nonNegative(s, "min_chars")
	if err != nil {
		return err
	}
	minWords, err := nonNegative(s, "min_words")
	if err != nil {
		return err
	}
	h.mu.Lock()
	h.minChars, h.minWords = minChars, minWords
	h.mu.Unlock()
	return nil
}

func nonNegative(s map[string]string, name string) (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(s[name]))
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%s: want a whole number >= 0, got %q", name, s[name])
	}
	return n, nil
}

func (h *heuristic) Judge(_ context.Context, samples []evaluators.Sample) ([]evaluators.Verdict, error) {
	h.mu.Lock()
	minChars, minWords := h.minChars, h.minWords
	h.mu.Unlock()
	out := make([]evaluators.Verdict, len(samples))
	for i, s := range samples {
		out[i] = judgeShape(s.ID, s.Output, minChars, minWords)
	}
	return out, nil
}

// judgeShape applies the three rules; the score is the fraction passed.
func judgeShape(id, output string, minChars, minWords int) evaluators.Verdict {
	text := strings.TrimSpace(output)
	chars := utf8.RuneCountInString(text)
	words := len(strings.Fields(text))
	alnum := strings.IndexFunc(text, func(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }) >= 0

	var failed []string
	if chars <= minChars {
		failed = append(failed, fmt.Sprintf("too short: %d characters, need more than %d", chars, minChars))
	}
	if words <= minWords {
		failed = append(failed, fmt.Sprintf("too few words: %d, need more than %d", words, minWords))
	}
	if !alnum {
		failed = append(failed, "no letter or digit")
	}
	v := evaluators.Verdict{ID: id, Score: float64(3-len(failed)) / 3}
	if len(failed) == 0 {
		v.Label = labelOK
		v.Reason = fmt.Sprintf("%d characters, %d words", chars, words)
	} else {
		v.Label = labelNotOK
		v.Reason = strings.Join(failed, "; ")
	}
	return v
}
