package eval

import (
	"math"
	"testing"

	"qwentune/plugins/evaluators"
)

func result(id, label, predicted string) Result {
	return Result{ID: id, Input: "q" + id, Label: label, Predicted: predicted}
}

func TestCompare(t *testing.T) {
	base := Report{Results: []Result{
		result("1", "ok", "not ok"),     // fixed
		result("2", "ok", "ok"),         // broken
		result("3", "not ok", "not ok"), // same, right
		result("4", "maybe", "ok"),      // changed, still wrong
		result("5", "ok", "not ok"),     // same, wrong
		result("6", "ok", "ok"),         // only in base
	}}
	base.Metrics.Positive = "ok"
	tuned := Report{Results: []Result{
		result("2", "ok", "not ok"),
		result("1", "ok", "ok"),
		result("3", "not ok", "not ok"),
		result("4", "maybe", "not ok"),
		result("5", "ok", "not ok"),
		result("7", "ok", "ok"), // only in tuned
	}}
	c := Compare(base, tuned)
	if len(c.Fixed) != 1 || c.Fixed[0].Base.ID != "1" || c.Fixed[0].Tuned.Predicted != "ok" || c.Fixed[0].Base.Predicted != "not ok" {
		t.Errorf("fixed %+v", c.Fixed)
	}
	if len(c.Broken) != 1 || c.Broken[0].Tuned.ID != "2" || c.Broken[0].Tuned.Predicted != "not ok" {
		t.Errorf("broken %+v", c.Broken)
	}
	if c.Changed != 1 || c.Matched != 5 || c.Unmatched != 2 {
		t.Errorf("changed %d matched %d unmatched %d", c.Changed, c.Matched, c.Unmatched)
	}
	if c.Base.Total != 5 || c.Base.Correct != 2 || c.Tuned.Correct != 2 || c.Base.Positive != "ok" {
		t.Errorf("base %+v tuned %+v", c.Base, c.Tuned)
	}
	acc, f1, macro := c.Delta()
	// ok: base tp 1 (id 2), fp 1 (id 4), fn 2 (ids 1, 5) -> F1 2/5;
	// tuned tp 1 (id 1), fp 0, fn 2 (ids 2, 5) -> F1 1/2.
	if acc != 0 || math.Abs(f1-(0.5-0.4)) > 1e-12 || math.IsNaN(macro) {
		t.Errorf("delta %v %v %v", acc, f1, macro)
	}
}

// TestCompareUnjudged: a sample unjudged in either run is no flip and is
// left out of both runs' figures, so they cover the same samples.
func TestCompareUnjudged(t *testing.T) {
	base := Report{Results: []Result{
		result("1", "ok", "ok"),
		result("2", "ok", evaluators.Unjudged),
		result("3", "not ok", "not ok"),
		result("4", "ok", evaluators.Unjudged),
	}}
	base.Metrics.Positive = "ok"
	tuned := Report{Results: []Result{
		result("1", "ok", evaluators.Unjudged), // right in base: not "broken"
		result("2", "ok", "ok"),                // unjudged in base: not "fixed"
		result("3", "not ok", "ok"),            // broken
		result("4", "ok", evaluators.Unjudged),
	}}
	c := Compare(base, tuned)
	if len(c.Fixed) != 0 || len(c.Broken) != 1 || c.Broken[0].Base.ID != "3" || c.Changed != 0 {
		t.Errorf("fixed %+v broken %+v changed %d", c.Fixed, c.Broken, c.Changed)
	}
	if c.Matched != 4 || c.Unjudged != 3 || c.Base.Total != 1 || c.Tuned.Total != 1 || c.Base.Accuracy != 1 || c.Tuned.Accuracy != 0 {
		t.Errorf("matched %d unjudged %d; base %+v; tuned %+v", c.Matched, c.Unjudged, c.Base, c.Tuned)
	}
}
