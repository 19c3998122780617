package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"unicode"

	"qwentune/plugins/evaluators"
)

// Labels emitted by the rules evaluator, the positive one first.
const (
	labelOK    = "ok"
	labelNotOK = "not ok"
)

var rulesSettings = []evaluators.Setting{
	{Name: "require_regex", Default: "", Description: "the output must match this regular expression (Go RE2 syntax; (?i) for case-insensitive)"},
	{Name: "forbid_regex", Default: "", Description: "the output must not match this regular expression"},
	{Name: "keywords", Default: "", Description: "comma-separated words or phrases that must all appear in the output, ignoring case"},
	{Name: "json", Default: "false", Description: "true: the output must be valid JSON (one surrounding ``` code fence is allowed)"},
}

// ruleSet is the parsed settings.
type ruleSet struct {
	require  *regexp.Regexp
	forbid   *regexp.Regexp
	keywords []string
	json     bool
}

// count is the number of rules configured.
func (r ruleSet) count() int {
	n := len(r.keywords)
	for _, on := range []bool{r.require != nil, r.forbid != nil, r.json} {
		if on {
			n++
		}
	}
	return n
}

// rules checks each output against the configured rules; the score is the
// fraction of rules passed (each keyword counts as one rule).
type rules struct {
	mu  sync.Mutex
	set ruleSet
}

func (r *rules) Info(context.Context) (evaluators.Info, error) {
	return evaluators.Info{
		Name:        "rules",
		Version:     "1.0.0",
		Description: "Checks each answer against your rules: a regex it must match, one it must not, keywords it must contain, valid JSON; ok when every rule passes.",
		Labels:      []string{labelOK, labelNotOK},
		Settings:    rulesSettings,
	}, nil
}

func (r *rules) Configure(_ context.Context, settings map[string]string) error {
	s, err := evaluators.Resolve(rulesSettings, settings)
	if err != nil {
		return err
	}
	var set ruleSet
	if set.require, err = compile(s, "require_regex"); err != nil {
		return err
	}
	if set.forbid, err = compile(s, "forbid_regex"); err != nil {
		return err
	}
	for _, k := range strings.Split(s["keywords"], ",") {
		if k = strings.TrimSpace(k); k != "" {
			set.keywords = append(set.keywords, k)
		}
	}
	if set.json, err = strconv.ParseBool(strings.TrimSpace(s["json"])); err != nil {
		return fmt.Errorf("json: want true or false, got %q", s["json"])
	}
	r.mu.Lock()
	r.set = set
	r.mu.Unlock()
	return nil
}

// compile parses the regex setting name; empty means no rule.
func compile(s map[string]string, name string) (*regexp.Regexp, error) {
	if s[name] == "" {
		return nil, nil
	}
	re, err := regexp.Compile(s[name])
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return re, nil
}

func (r *rules) Judge(_ context.Context, samples []evaluators.Sample) ([]evaluators.Verdict, error) {
	r.mu.Lock()
	set := r.set
	r.mu.Unlock()
	if set.count() == 0 {
		return nil, errors.New("no rule configured: set require_regex, forbid_regex, keywords or json")
	}
	out := make([]evaluators.Verdict, len(samples))
	for i, s := range samples {
		out[i] = set.judge(s)
	}
	return out, nil
}

// judge applies every rule to one sample.
func (r ruleSet) judge(s evaluators.Sample) evaluators.Verdict {
	var failed []string
	if r.require != nil && !r.require.MatchString(s.Output) {
		failed = append(failed, fmt.Sprintf("does not match %q", r.require))
	}
	if r.forbid != nil {
		if loc := r.forbid.FindStringIndex(s.Output); loc != nil {
			failed = append(failed, fmt.Sprintf("contains forbidden %q", clip(s.Output[loc[0]:loc[1]], 40)))
		}
	}
	lower := strings.ToLower(s.Output)
	for _, k := range r.keywords {
		if !strings.Contains(lower, strings.ToLower(k)) {
			failed = append(failed, fmt.Sprintf("missing keyword %q", k))
		}
	}
	if r.json {
		if err := checkJSON(s.Output); err != nil {
			failed = append(failed, "not valid JSON: "+err.Error())
		}
	}
	n := r.count()
	v := evaluators.Verdict{ID: s.ID, Score: float64(n-len(failed)) / float64(n)}
	if len(failed) == 0 {
		v.Label = labelOK
		v.Reason = fmt.Sprintf("passed all %d rules", n)
	} else {
		v.Label = labelNotOK
		v.Reason = strings.Join(failed, "; ")
	}
	return v
}

// clip shortens s to at most n runes for a reason.
func clip(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n]) + "…"
	}
	return s
}

// checkJSON reports why output is not one JSON value; a single surrounding
// markdown code fence (``` or ```json) is accepted, as models often add one.
func checkJSON(output string) error {
	text := strings.TrimSpace(output)
	if body, ok := strings.CutPrefix(text, "```"); ok {
		if body, ok = strings.CutSuffix(body, "```"); ok {
			// Drop a language tag such as "json" right after the fence.
			tag := strings.IndexFunc(body, func(r rune) bool { return !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z') })
			if tag > 0 && unicode.IsSpace(rune(body[tag])) {
				body = body[tag:]
			}
			text = strings.TrimSpace(body)
		}
	}
	if text == "" {
		return errors.New("empty")
	}
	var v any
	return json.Unmarshal([]byte(text), &v)
}
