package main

import (
	"context"
	"math"
	"strings"
	"testing"

	"qwentune/plugins/evaluators"
)

func TestNormalize(t *testing.T) {
	tests := map[string]string{
		"Paris.":              "paris",
		"  The   Cat, sat!  ": "the cat sat",
		"New-York's $5":       "new york s 5",
		"ÉCOLE":               "école",
		"":                    "",
	}
	for in, want := range tests {
		if got := normalize(in); got != want {
			t.Errorf("normalize(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestScores(t *testing.T) {
	tests := []struct {
		out, ref  string
		f1, rouge float64
	}{
		// common 1; P 1/4, R 1 -> F1 0.4; LCS 1 -> same.
		{"the capital is paris", "paris", 0.4, 0.4},
		// bag overlap {the, cat} = 2 of 3 and 2 of 4 -> F1 4/7; LCS "the cat" = 2 -> 4/7.
		{"the cat sat", "the cat was sitting", 4.0 / 7, 4.0 / 7},
		// same words, reversed order: F1 1, LCS 1 of 3 -> 1/3.
		{"c b a", "a b c", 1, 1.0 / 3},
		// multiplicity: out has "a" twice, ref once: common 1; P 1/2, R 1 -> 2/3.
		{"a a", "a", 2.0 / 3, 2.0 / 3},
		{"x y", "a b", 0, 0},
		{"", "a", 0, 0},
	}
	for _, tt := range tests {
		out, ref := strings.Fields(tt.out), strings.Fields(tt.ref)
		if got := tokenF1(out, ref); math.Abs(got-tt.f1) > 1e-12 {
			t.Errorf("tokenF1(%q, %q) = %v, want %v", tt.out, tt.ref, got, tt.f1)
		}
		if got := rougeL(out, ref); math.Abs(got-tt.rouge) > 1e-12 {
			t.Errorf("rougeL(%q, %q) = %v, want %v", tt.out, tt.ref, got, tt.rouge)
		}
	}
}

// TestRougeLNaive checks the two-row LCS against a full-table LCS.
func TestRougeLNaive(t *testing.T) {
	words := []string{"a", "b", "c"}
	seq := func(seed, n int) []string {
		out := make([]string, n)
		for i := range out {
			seed = (seed*1103515245 + 12345) & 0x7fffffff
			out[i] = words[seed%len(words)]
		}
		return out
	}
	for seed := 1; seed < 200; seed++ {
		a, b := seq(seed, seed%9+1), seq(seed*7, seed%7+1)
		dp := make([][]int, len(a)+1)
		for i := range dp {
			dp[i] = make([]int, len(b)+1)
		}
		for i := 1; i <= len(a); i++ {
			for j := 1; j <= len(b); j++ {
				if a[i-1] == b[j-1] {
					dp[i][j] = dp[i-1][j-1] + 1
				} else {
					dp[i][j] = max(dp[i-1][j], dp[i][j-1])
				}
			}
		}
		lcs := float64(dp[len(a)][len(b)])
		want := 0.0
		if lcs > 0 {
			p, r := lcs/float64(len(a)), lcs/float64(len(b))
			want = 2 * p * r / (p + r)
		}
		if got := rougeL(a, b); math.Abs(got-want) > 1e-12 {
			t.Fatalf("rougeL(%v, %v) = %v, want %v", a, b, got, want)
		}
	}
}

func TestReferenceJudge(t *testing.T) {
	tests := []struct {
		settings      map[string]string
		out, ref      string
		label, reason string
	}{
		{map[string]string{"mode": "exact"}, "Paris.", "paris", labelOK, "exact match"},
		{map[string]string{"mode": "exact"}, "Paris, France", "paris", labelNotOK, "not exact match"},
		{map[string]string{"mode": "contains"}, "It is Paris, France", "paris", labelOK, "contains the reference"},
		{map[string]string{"mode": "contains", "normalize": "false"}, "It is Paris", "paris", labelNotOK, "not contains the reference"},
		{map[string]string{"mode": "token_f1", "threshold": "0.4"}, "the capital is paris", "paris", labelOK, "token F1 0.400, at or above threshold 0.4"},
		{map[string]string{"mode": "rouge_l", "threshold": "0.5"}, "c b a", "a b c", labelNotOK, "ROUGE-L 0.333, below threshold 0.5"},
		{nil, "anything", "   ", labelNotOK, "no reference answer for this sample"},
		{nil, "anything", "?!", labelNotOK, "no reference answer for this sample"},
	}
	for _, tt := range tests {
		r := newReference()
		if err := r.Configure(context.Background(), tt.settings); err != nil {
			t.Fatal(err)
		}
		v, err := r.Judge(context.Background(), []evaluators.Sample{{ID: "1", Output: tt.out, Reference: tt.ref}})
		if err != nil {
			t.Fatal(err)
		}
		if v[0].Label != tt.label || v[0].Reason != tt.reason || v[0].Score < 0 || v[0].Score > 1 {
			t.Errorf("%v %q vs %q: %+v, want %q %q", tt.settings, tt.out, tt.ref, v[0], tt.label, tt.reason)
		}
	}
}

func TestReferenceConfigureErrors(t *testing.T) {
	for _, s := range []map[string]string{
		{"mode": "bleu"}, {"threshold": "-0.1"}, {"threshold": "NaN"}, {"threshold": "x"}, {"normalize": "maybe"}, {"other": "1"},
	} {
		if err := newReference().Configure(context.Background(), s); err == nil {
			t.Errorf("Configure(%v) accepted", s)
		}
	}
}
