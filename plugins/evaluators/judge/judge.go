package main

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"qwentune/plugins/evaluators"
)

// defaultPrompt is the rubric question; {input}, {output}, {reference} and
// {labels} are replaced per sample.
const defaultPrompt = `You are grading an assistant's answer to a user's question.

Question:
{input}

Answer:
{output}

Reference answer (may be empty):
{reference}

Is the answer correct and helpful? Reply with exactly one of: {labels}.`

var judgeSettings = []evaluators.Setting{
	{Name: "prompt", Default: defaultPrompt, Description: "the rubric question sent to the judge model as a user message; {input}, {output}, {reference} and {labels} are replaced by the sample's text and the labels"},
	{Name: "labels", Default: "ok, not ok", Description: "comma-separated labels the judge chooses from, the positive one first"},
	{Name: "answer_regex", Default: "", Description: "empty: the label named first in the judge's answer (whole words, ignoring case); else a regular expression (Go RE2) whose first match (its first group, if it has one) must be a label, ignoring case"},
	{Name: "max_new_tokens", Default: "16", Description: "longest judge answer in tokens"},
	{Name: "temperature", Default: "0", Description: "sampling temperature of the judge; 0 is greedy, so the same answers give the same verdicts"},
}

// judge asks a model a rubric question per sample. Settings are replaced
// whole by Configure; Judge reads a snapshot.
type judge struct {
	mu  sync.Mutex
	cfg judgeConfig
}

// judgeConfig is the parsed settings.
type judgeConfig struct {
	prompt       string
	labels       []string
	answer       *regexp.Regexp // nil: the first label named
	maxNewTokens int
	temperature  float64
}

func newJudge() *judge {
	j := &judge{}
	if err := j.Configure(context.Background(), nil); err != nil {
		panic(err) // the defaults above are constants that parse
	}
	return j
}

func (j *judge) settings() judgeConfig {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.cfg
}

// Info describes the judge; its labels are the configured ones followed by
// evaluators.Unjudged.
func (j *judge) Info(context.Context) (evaluators.Info, error) {
	c := j.settings()
	return evaluators.Info{
		Name:        "judge",
		Version:     "1.0.0",
		Description: "asks a local model (the base, the fine-tune or another folder) a rubric question about each answer and maps its reply to a label",
		Labels:      append(append([]string(nil), c.labels...), evaluators.Unjudged),
		Settings:    judgeSettings,
	}, nil
}

// Configure parses and checks the settings.
func (j *judge) Configure(_ context.Context, settings map[string]string) error {
	s, err := evaluators.Resolve(judgeSettings, settings)
	if err != nil {
		return err
	}
	var c judgeConfig
	if c.prompt = s["prompt"]; strings.TrimSpace(c.prompt) == "" {
		return errors.New("prompt: must not be empty")
	}
	if c.labels, err = parseLabels(s["labels"]); err != nil {
		return fmt.Errorf("labels: %w", err)
	}
	if r := s["answer_regex"]; r != "" {
		if c.answer, err = regexp.Compile(r); err != nil {
			return fmt.Errorf("answer_regex: %w", err)
		}
	}
	if c.maxNewTokens, err = strconv.Atoi(strings.TrimSpace(s["max_new_tokens"])); err != nil || c.maxNewTokens < 1 {
		return fmt.Errorf("max_new_tokens: must be a positive integer, got %q", s["max_new_tokens"])
	}
	if c.temperature, err = strconv.ParseFloat(strings.TrimSpace(s["temperature"]), 64); err != nil || !(c.temperature >= 0) || c.temperature > 100 {
		return fmt.Errorf("temperature: must be a number >= 0, got %q", s["temperature"])
	}
	j.mu.Lock()
	j.cfg = c
	j.mu.Unlock()
	return nil
}

// parseLabels splits a comma-separated list: at least one label, none
// empty, none repeated (ignoring case), and not the reserved "unjudged".
func parseLabels(s string) ([]string, error) {
	var out []string
	for _, l := range strings.Split(s, ",") {
		l = strings.TrimSpace(l)
		switch {
		case l == "":
			return nil, fmt.Errorf("empty label in %q", s)
		case strings.EqualFold(l, evaluators.Unjudged):
			return nil, fmt.Errorf("%q is reserved for answers that name no label", evaluators.Unjudged)
		}
		for _, o := range out {
			if strings.EqualFold(o, l) {
				return nil, fmt.Errorf("%q is listed twice", l)
			}
		}
		out = append(out, l)
	}
	return out, nil
}

// Judge cannot work without a model: the host must offer its Generator.
func (j *judge) Judge(ctx context.Context, samples []evaluators.Sample) ([]evaluators.Verdict, error) {
	return j.JudgeWith(ctx, samples, nil)
}

// JudgeWith asks gen the rubric question for each sample in turn. An
// answer that names no label gives an evaluators.Unjudged verdict; a
// failed generation fails the call (the host says why).
func (j *judge) JudgeWith(ctx context.Context, samples []evaluators.Sample, gen evaluators.Generator) ([]evaluators.Verdict, error) {
	if gen == nil {
		return nil, errors.New("the judge needs a model, but the host offers no generator (QwenTune's evaluation offers one; update the app)")
	}
	c := j.settings()
	out := make([]evaluators.Verdict, len(samples))
	for i, s := range samples {
		resp, err := gen.Generate(ctx, evaluators.GenerateRequest{
			Messages:     []evaluators.Message{{Role: "user", Content: c.question(s)}},
			MaxNewTokens: c.maxNewTokens,
			Temperature:  c.temperature,
		})
		if err != nil {
			return nil, fmt.Errorf("sample %s: judge model: %w", s.ID, err)
		}
		out[i] = c.verdict(s.ID, resp.Text)
	}
	return out, nil
}

// question fills the rubric template for sample s.
func (c judgeConfig) question(s evaluators.Sample) string {
	return strings.NewReplacer(
		"{input}", s.Input,
		"{output}", s.Output,
		"{reference}", s.Reference,
		"{labels}", strings.Join(c.labels, ", "),
	).Replace(c.prompt)
}

// verdict maps the judge's answer to a label: score 1 for the positive
// (first) label, 0 for the others and for Unjudged.
func (c judgeConfig) verdict(id, answer string) evaluators.Verdict {
	label, ok := c.label(answer)
	v := evaluators.Verdict{ID: id, Label: label}
	quoted := strconv.Quote(clip(strings.TrimSpace(answer), 120))
	switch {
	case !ok:
		v.Label = evaluators.Unjudged
		if strings.TrimSpace(answer) == "" {
			v.Reason = "the judge answered nothing"
		} else {
			v.Reason = fmt.Sprintf("the judge answered %s, which names none of %s", quoted, strings.Join(c.labels, ", "))
		}
	default:
		v.Reason = "the judge answered " + quoted
		if label == c.labels[0] {
			v.Score = 1
		}
	}
	return v
}

// label finds the label the answer names. With answer_regex, its first
// match (the first group when the regex has groups) must equal a label,
// ignoring case and surrounding space. Without, it is the label that
// occurs first as whole words, ignoring case; when two start at the same
// place ("not ok" and "not"), the longer wins.
func (c judgeConfig) label(answer string) (string, bool) {
	if c.answer != nil {
		m := c.answer.FindStringSubmatch(answer)
		if m == nil {
			return "", false
		}
		got := m[0]
		if len(m) > 1 {
			got = m[1]
		}
		for _, l := range c.labels {
			if strings.EqualFold(strings.TrimSpace(got), l) {
				return l, true
			}
		}
		return "", false
	}
	lower := strings.ToLower(answer)
	best, bestAt := "", -1
	for _, l := range c.labels {
		at := wordIndex(lower, strings.ToLower(l))
		if at < 0 {
			continue
		}
		if bestAt < 0 || at < bestAt || (at == bestAt && len(l) > len(best)) {
			best, bestAt = l, at
		}
	}
	return best, bestAt >= 0
}

// wordIndex is the first index of word in s where it is not part of a
// longer word (no letter or digit right before or after), or -1.
func wordIndex(s, word string) int {
	for from := 0; from <= len(s); {
		i := strings.Index(s[from:], word)
		if i < 0 {
			return -1
		}
		i += from
		before, _ := utf8.DecodeLastRuneInString(s[:i])
		after, _ := utf8.DecodeRuneInString(s[i+len(word):])
		if !isWordRune(before) && !isWordRune(after) {
			return i
		}
		_, size := utf8.DecodeRuneInString(s[i:])
		from = i + size
	}
	return -1
}

func isWordRune(r rune) bool {
	return r != utf8.RuneError && (unicode.IsLetter(r) || unicode.IsDigit(r))
}

// clip shortens s to n runes.
func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
