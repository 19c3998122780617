package main

import (
	"context"
	"strings"
	"testing"

	"qwentune/plugins/evaluators"
)

func TestRulesJudge(t *testing.T) {
	tests := []struct {
		settings map[string]string
		out      string
		label    string
		score    float64
		reason   string
	}{
		{map[string]string{"require_regex": `^\d+$`}, "42", labelOK, 1, "passed all 1 rules"},
		{map[string]string{"require_regex": `^\d+$`}, "forty-two", labelNotOK, 0, `does not match "^\\d+$"`},
		{map[string]string{"forbid_regex": `(?i)sorry`}, "Sorry, I can't", labelNotOK, 0, `contains forbidden "Sorry"`},
		{map[string]string{"keywords": "alpha, beta ,,gamma"}, "ALPHA and Beta", labelNotOK, 2.0 / 3, `missing keyword "gamma"`},
		{map[string]string{"json": "true"}, `[1, 2]`, labelOK, 1, "passed all 1 rules"},
		{map[string]string{"json": "true"}, "```\n{\"a\": true}\n```", labelOK, 1, "passed all 1 rules"},
		{map[string]string{"json": "true"}, "```json {\"a\": true}```", labelOK, 1, "passed all 1 rules"},
		{map[string]string{"json": "true"}, "{} {}", labelNotOK, 0, "not valid JSON"},
		{map[string]string{"json": "true"}, "   ", labelNotOK, 0, "not valid JSON: empty"},
		{map[string]string{"json": "true", "keywords": "a", "forbid_regex": "b"}, `{"a": "b"}`, labelNotOK, 2.0 / 3, `contains forbidden "b"`},
		{map[string]string{"forbid_regex": `x+`}, strings.Repeat("x", 100), labelNotOK, 0, `contains forbidden "` + strings.Repeat("x", 40) + `…"`},
	}
	for _, tt := range tests {
		r := &rules{}
		if err := r.Configure(context.Background(), tt.settings); err != nil {
			t.Fatal(err)
		}
		v, err := r.Judge(context.Background(), []evaluators.Sample{{ID: "1", Output: tt.out}})
		if err != nil {
			t.Fatal(err)
		}
		if v[0].Label != tt.label || v[0].Score != tt.score || !strings.Contains(v[0].Reason, tt.reason) {
			t.Errorf("%v on %q: %+v, want %q %v %q", tt.settings, tt.out, v[0], tt.label, tt.score, tt.reason)
		}
	}
}

func TestRulesConfigure(t *testing.T) {
	r := &rules{}
	if _, err := r.Judge(context.Background(), nil); err == nil {
		t.Error("Judge without rules accepted")
	}
	for _, s := range []map[string]string{{"require_regex": "("}, {"forbid_regex": "[a-"}, {"json": "yes please"}, {"regex": "x"}} {
		if err := r.Configure(context.Background(), s); err == nil {
			t.Errorf("Configure(%v) accepted", s)
		}
	}
}
