package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"unicode"

	"qwentune/plugins/evaluators"
)

// Labels emitted by the reference evaluator, the positive one first.
const (
	labelOK    = "ok"
	labelNotOK = "not ok"
)

// Comparison modes.
const (
	modeExact    = "exact"
	modeContains = "contains"
	modeTokenF1  = "token_f1"
	modeRougeL   = "rouge_l"
)

var referenceSettings = []evaluators.Setting{
	{Name: "mode", Default: modeTokenF1, Description: "exact: output equals the reference; contains: output contains it; token_f1: F1 of shared words; rouge_l: ROUGE-L F-measure (longest common word subsequence)"},
	{Name: "threshold", Default: "0.5", Description: "the score (0 to 1) at or above which the answer is ok; exact and contains score 0 or 1"},
	{Name: "normalize", Default: "true", Description: "compare lower-cased text with punctuation removed and spaces collapsed"},
}

// config is the parsed settings.
type config struct {
	mode      string
	threshold float64
	normalize bool
}

// reference scores an output against the sample's reference answer.
type reference struct {
	mu  sync.Mutex
	cfg config
}

func newReference() *reference {
	r := &reference{}
	if err := r.Configure(context.Background(), nil); err != nil {
		panic(err) // the defaults above are constants that parse
	}
	return r
}

func (r *reference) Info(context.Context) (evaluators.Info, error) {
	return evaluators.Info{
		Name:        "reference",
		Version:     "1.0.0",
		Description: "Compares each answer with the test set's reference answer (exact, contains, token F1 or ROUGE-L); ok when the score reaches the threshold.",
		Labels:      []string{labelOK, labelNotOK},
		Settings:    referenceSettings,
	}, nil
}

func (r *reference) Configure(_ context.Context, settings map[string]string) error {
	s, err := evaluators.Resolve(referenceSettings, settings)
	if err != nil {
		return err
	}
	var cfg config
	switch cfg.mode = strings.TrimSpace(s["mode"]); cfg.mode {
	case modeExact, modeContains, modeTokenF1, modeRougeL:
	default:
		return fmt.Errorf("mode: want exact, contains, token_f1 or rouge_l, got %q", s["mode"])
	}
	cfg.threshold, err = strconv.ParseFloat(strings.TrimSpace(s["threshold"]), 64)
	if err != nil || !(cfg.threshold >= 0 && cfg.threshold <= 1) {
		return fmt.Errorf("threshold: want a number from 0 to 1, got %q", s["threshold"])
	}
	cfg.normalize, err = strconv.ParseBool(strings.TrimSpace(s["normalize"]))
	if err != nil {
		return fmt.Errorf("normalize: want true or false, got %q", s["normalize"])
	}
	r.mu.Lock()
	r.cfg = cfg
	r.mu.Unlock()
	return nil
}

func (r *reference) Judge(_ context.Context, samples []evaluators.Sample) ([]evaluators.Verdict, error) {
	r.mu.Lock()
	cfg := r.cfg
	r.mu.Unlock()
	out := make([]evaluators.Verdict, len(samples))
	for i, s := range samples {
		out[i] = cfg.judge(s)
	}
	return out, nil
}

// judge scores one sample.
func (c config) judge(s evaluators.Sample) evaluators.Verdict {
	v := evaluators.Verdict{ID: s.ID, Label: labelNotOK}
	ref, out := strings.TrimSpace(s.Reference), strings.TrimSpace(s.Output)
	if c.normalize {
		ref, out = normalize(ref), normalize(out)
	}
	if ref == "" {
		v.Reason = "no reference answer for this sample"
		return v
	}
	var what string
	switch c.mode {
	case modeExact:
		v.Score, what = boolScore(out == ref), "exact match"
	case modeContains:
		v.Score, what = boolScore(strings.Contains(out, ref)), "contains the reference"
	case modeTokenF1:
		v.Score, what = tokenF1(strings.Fields(out), strings.Fields(ref)), "token F1"
	case modeRougeL:
		v.Score, what = rougeL(strings.Fields(out), strings.Fields(ref)), "ROUGE-L"
	}
	if v.Score >= c.threshold {
		v.Label = labelOK
	}
	switch c.mode {
	case modeExact, modeContains:
		if v.Score == 1 {
			v.Reason = what
		} else {
			v.Reason = "not " + what
		}
	default:
		cmp := "below"
		if v.Label == labelOK {
			cmp = "at or above"
		}
		v.Reason = fmt.Sprintf("%s %.3f, %s threshold %.3g", what, v.Score, cmp, c.threshold)
	}
	return v
}

func boolScore(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// normalize lower-cases s, turns punctuation and symbols into spaces and
// collapses runs of spaces, so "Paris." matches "paris".
func normalize(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsPunct(r) || unicode.IsSymbol(r) {
			return ' '
		}
		return unicode.ToLower(r)
	}, s)
	return strings.Join(strings.Fields(s), " ")
}

// tokenF1 is the SQuAD token F1: the harmonic mean of the precision and
// recall of the words shared by out and ref, counted with multiplicity.
func tokenF1(out, ref []string) float64 {
	if len(out) == 0 || len(ref) == 0 {
		return 0
	}
	count := map[string]int{}
	for _, w := range ref {
		count[w]++
	}
	common := 0
	for _, w := range out {
		if count[w] > 0 {
			count[w]--
			common++
		}
	}
	return f1(float64(common), float64(len(out)), float64(len(ref)))
}

// rougeL is the ROUGE-L F-measure (beta = 1): precision and recall of the
// longest common subsequence of words.
func rougeL(out, ref []string) float64 {
	if len(out) == 0 || len(ref) == 0 {
		return 0
	}
	prev, cur := make([]int, len(ref)+1), make([]int, len(ref)+1)
	for _, o := range out {
		for j, r := range ref {
			if o == r {
				cur[j+1] = prev[j] + 1
			} else {
				cur[j+1] = max(prev[j+1], cur[j])
			}
		}
		prev, cur = cur, prev
	}
	return f1(float64(prev[len(ref)]), float64(len(out)), float64(len(ref)))
}

// f1 is 2PR/(P+R) for common matches out of nOut predicted and nRef
// reference tokens, 0 when nothing matches.
func f1(common, nOut, nRef float64) float64 {
	if common == 0 {
		return 0
	}
	p, r := common/nOut, common/nRef
	return 2 * p * r / (p + r)
}
