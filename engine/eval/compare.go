package eval

import "qwentune/plugins/evaluators"

// Comparison sets two runs over the same test set side by side, typically
// the base model against the fine-tuned one.
type Comparison struct {
	// Base and Tuned are the metrics of each run over the samples both
	// judged, so that a partial run is compared like for like (a sample
	// unjudged in either run is left out of both).
	Base  Metrics `json:"base"`
	Tuned Metrics `json:"tuned"`
	// Fixed lists samples wrong in the base run and right in the tuned one,
	// Broken the reverse; both in base-run order.
	Fixed  []Flip `json:"fixed"`
	Broken []Flip `json:"broken"`
	// Changed counts samples whose prediction changed but stayed wrong.
	Changed int `json:"changed"`
	// Matched counts samples judged in both runs (matched by ID);
	// Unmatched those judged in only one.
	Matched   int `json:"matched"`
	Unmatched int `json:"unmatched"`
	// Unjudged counts the matched samples the evaluator could not judge in
	// one run or both (evaluators.Unjudged): no flip, no figure.
	Unjudged int `json:"unjudged"`
}

// Flip is one sample whose verdict changed between the runs.
type Flip struct {
	Base  Result `json:"base"`
	Tuned Result `json:"tuned"`
}

// Delta returns tuned minus base for accuracy, positive-label F1 and macro F1.
func (c Comparison) Delta() (accuracy, f1, macroF1 float64) {
	return c.Tuned.Accuracy - c.Base.Accuracy, c.Tuned.F1 - c.Base.F1, c.Tuned.Macro.F1 - c.Base.Macro.F1
}

// Compare matches the results of two reports by sample ID and lists the
// verdicts that flipped. The positive label is the base report's.
func Compare(base, tuned Report) Comparison {
	byID := make(map[string]Result, len(tuned.Results))
	for _, r := range tuned.Results {
		byID[r.ID] = r
	}
	var c Comparison
	var expected, basePred, tunedPred []string
	for _, b := range base.Results {
		t, ok := byID[b.ID]
		if !ok {
			continue
		}
		c.Matched++
		if b.Predicted == evaluators.Unjudged || t.Predicted == evaluators.Unjudged {
			c.Unjudged++
			continue
		}
		expected = append(expected, b.Label)
		basePred = append(basePred, b.Predicted)
		tunedPred = append(tunedPred, t.Predicted)
		switch {
		case !b.Correct() && t.Correct():
			c.Fixed = append(c.Fixed, Flip{Base: b, Tuned: t})
		case b.Correct() && !t.Correct():
			c.Broken = append(c.Broken, Flip{Base: b, Tuned: t})
		case b.Predicted != t.Predicted:
			c.Changed++
		}
	}
	c.Unmatched = len(base.Results) + len(tuned.Results) - 2*c.Matched
	positive := base.Metrics.Positive
	c.Base = Compute(expected, basePred, positive)
	c.Tuned = Compute(expected, tunedPred, positive)
	return c
}
