package main

import (
	"context"
	"testing"

	"qwentune/plugins/evaluators"
)

func TestJudgeShape(t *testing.T) {
	tests := []struct {
		output             string
		minChars, minWords int
		label              string
		score              float64
		reason             string
	}{
		{"Paris is the capital of France.", 5, 2, labelOK, 1, "31 characters, 6 words"},
		{"  Paris is nice  \n", 5, 2, labelOK, 1, "13 characters, 3 words"},
		{"Paris", 5, 2, labelNotOK, 1.0 / 3, "too short: 5 characters, need more than 5; too few words: 1, need more than 2"},
		{"ééé ààà üüü", 5, 2, labelOK, 1, "11 characters, 3 words"},
		{"—— …… ——", 5, 2, labelNotOK, 2.0 / 3, "no letter or digit"},
		{"", 0, 0, labelNotOK, 0, "too short: 0 characters, need more than 0; too few words: 0, need more than 0; no letter or digit"},
		{"x", 0, 0, labelOK, 1, "1 characters, 1 words"},
	}
	for _, tt := range tests {
		v := judgeShape("id", tt.output, tt.minChars, tt.minWords)
		if v.ID != "id" || v.Label != tt.label || v.Score != tt.score || v.Reason != tt.reason {
			t.Errorf("judgeShape(%q, %d, %d) = %+v, want %q %v %q", tt.output, tt.minChars, tt.minWords, v, tt.label, tt.score, tt.reason)
		}
	}
}

func TestHeuristicConfigure(t *testing.T) {
	h := newHeuristic()
	tests := []struct {
		settings map[string]string
		ok       bool
	}{
		{nil, true},
		{map[string]string{"min_chars": " 10 ", "min_words": "0"}, true},
		{map[string]string{"min_chars": "ten"}, false},
		{map[string]string{"min_words": "-2"}, false},
		{map[string]string{"max_chars": "1"}, false},
	}
	for _, tt := range tests {
		if err := h.Configure(context.Background(), tt.settings); (err == nil) != tt.ok {
			t.Errorf("Configure(%v) = %v", tt.settings, err)
		}
	}
	// A refused Configure keeps the last good settings.
	v, _ := h.Judge(context.Background(), []evaluators.Sample{{ID: "1", Output: "nine char"}})
	if v[0].Label != labelNotOK || v[0].Reason != "too short: 9 characters, need more than 10" {
		t.Errorf("after Configure: %+v", v[0])
	}
}
