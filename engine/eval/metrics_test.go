package eval

import (
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"

	"qwentune/plugins/evaluators"
)

const tol = 1e-12

func TestComputeHandCases(t *testing.T) {
	tests := []struct {
		name                string
		expected, predicted []string
		positive            string
		want                Metrics
	}{
		{
			name:      "binary",
			expected:  []string{"ok", "ok", "ok", "ok", "not ok", "not ok"},
			predicted: []string{"ok", "ok", "not ok", "ok", "ok", "not ok"},
			positive:  "ok",
			want: Metrics{
				Total: 6, Judged: 6, Correct: 4, Accuracy: 4.0 / 6, Positive: "ok",
				Precision: 0.75, Recall: 0.75, F1: 0.75,
				Labels: []string{"ok", "not ok"},
				Classes: []ClassMetrics{
					{Label: "ok", Precision: 0.75, Recall: 0.75, F1: 0.75, Support: 4, Predicted: 4},
					{Label: "not ok", Precision: 0.5, Recall: 0.5, F1: 0.5, Support: 2, Predicted: 2},
				},
				Macro:     Average{0.625, 0.625, 0.625},
				Weighted:  Average{4.0 / 6, 4.0 / 6, 4.0 / 6},
				Confusion: [][]int{{3, 1}, {1, 1}},
			},
		},
		{
			// b and the positive c are never predicted: precision 0 by
			// zero_division, not NaN.
			name:      "labels never predicted",
			expected:  []string{"a", "a", "b", "c"},
			predicted: []string{"a", "a", "a", "a"},
			positive:  "c",
			want: Metrics{
				Total: 4, Judged: 4, Correct: 2, Accuracy: 0.5, Positive: "c",
				Labels: []string{"c", "a", "b"},
				Classes: []ClassMetrics{
					{Label: "c", Support: 1},
					{Label: "a", Precision: 0.5, Recall: 1, F1: 2.0 / 3, Support: 2, Predicted: 4},
					{Label: "b", Support: 1},
				},
				Macro:     Average{1.0 / 6, 1.0 / 3, 2.0 / 9},
				Weighted:  Average{0.25, 0.5, 1.0 / 3},
				Confusion: [][]int{{0, 1, 0}, {0, 2, 0}, {0, 1, 0}},
			},
		},
		{
			// y is predicted but never expected: zero support, recall 0.
			name:      "class with zero support",
			expected:  []string{"x", "x"},
			predicted: []string{"x", "y"},
			positive:  "y",
			want: Metrics{
				Total: 2, Judged: 2, Correct: 1, Accuracy: 0.5, Positive: "y",
				Labels: []string{"y", "x"},
				Classes: []ClassMetrics{
					{Label: "y", Support: 0, Predicted: 1},
					{Label: "x", Precision: 1, Recall: 0.5, F1: 2.0 / 3, Support: 2, Predicted: 1},
				},
				Macro:     Average{0.5, 0.25, 1.0 / 3},
				Weighted:  Average{1, 0.5, 2.0 / 3},
				Confusion: [][]int{{0, 0}, {1, 1}},
			},
		},
		{
			name:      "positive never seen",
			expected:  []string{"b", "a"},
			predicted: []string{"b", "a"},
			positive:  "ok",
			want: Metrics{
				Total: 2, Judged: 2, Correct: 2, Accuracy: 1, Positive: "ok",
				Labels: []string{"a", "b"},
				Classes: []ClassMetrics{
					{Label: "a", Precision: 1, Recall: 1, F1: 1, Support: 1, Predicted: 1},
					{Label: "b", Precision: 1, Recall: 1, F1: 1, Support: 1, Predicted: 1},
				},
				Macro:     Average{1, 1, 1},
				Weighted:  Average{1, 1, 1},
				Confusion: [][]int{{1, 0}, {0, 1}},
			},
		},
		{
			name:     "empty",
			positive: "ok",
			want:     Metrics{Positive: "ok", Confusion: [][]int{}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Compute(tt.expected, tt.predicted, tt.positive)
			checkNoNaN(t, got)
			if !metricsClose(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

// metricsClose compares a and b with floats equal within tol.
func metricsClose(a, b Metrics) bool {
	ok := func(x, y float64) bool { return math.Abs(x-y) <= tol }
	avg := func(x, y Average) bool {
		return ok(x.Precision, y.Precision) && ok(x.Recall, y.Recall) && ok(x.F1, y.F1)
	}
	if a.Total != b.Total || a.Judged != b.Judged || a.Unjudged != b.Unjudged || a.Correct != b.Correct || !ok(a.Accuracy, b.Accuracy) || a.Positive != b.Positive ||
		!ok(a.Precision, b.Precision) || !ok(a.Recall, b.Recall) || !ok(a.F1, b.F1) ||
		!slices.Equal(a.Labels, b.Labels) || !avg(a.Macro, b.Macro) || !avg(a.Weighted, b.Weighted) ||
		!reflect.DeepEqual(a.Confusion, b.Confusion) || len(a.Classes) != len(b.Classes) {
		return false
	}
	for i := range a.Classes {
		x, y := a.Classes[i], b.Classes[i]
		if x.Label != y.Label || x.Support != y.Support || x.Predicted != y.Predicted ||
			!avg(Average{x.Precision, x.Recall, x.F1}, Average{y.Precision, y.Recall, y.F1}) {
			return false
		}
	}
	return true
}

// checkNoNaN fails if any figure of m is NaN or infinite.
func checkNoNaN(t *testing.T, m Metrics) {
	t.Helper()
	xs := []float64{m.Accuracy, m.Precision, m.Recall, m.F1, m.Macro.Precision, m.Macro.Recall, m.Macro.F1, m.Weighted.Precision, m.Weighted.Recall, m.Weighted.F1}
	for _, c := range m.Classes {
		xs = append(xs, c.Precision, c.Recall, c.F1)
	}
	for _, x := range xs {
		if math.IsNaN(x) || math.IsInf(x, 0) || x < 0 || x > 1 {
			t.Fatalf("figure %v out of [0, 1] in %+v", x, m)
		}
	}
}

// TestComputeNaive checks Compute against a direct count over samples on
// random labels.
func TestComputeNaive(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	pool := []string{"ok", "not ok", "maybe", "other"}
	for trial := range 300 {
		n := rng.IntN(40)
		expected, predicted := make([]string, n), make([]string, n)
		for i := range n {
			expected[i] = pool[rng.IntN(1+trial%len(pool))]
			predicted[i] = pool[rng.IntN(len(pool))]
		}
		m := Compute(expected, predicted, "ok")
		checkNoNaN(t, m)
		var sumP, sumR, sumF, wP, wR, wF float64
		for _, c := range m.Classes {
			var tp, fp, fn float64
			for i := range n {
				switch {
				case expected[i] == c.Label && predicted[i] == c.Label:
					tp++
				case predicted[i] == c.Label:
					fp++
				case expected[i] == c.Label:
					fn++
				}
			}
			p, r, f := 0.0, 0.0, 0.0
			if tp+fp > 0 {
				p = tp / (tp + fp)
			}
			if tp+fn > 0 {
				r = tp / (tp + fn)
			}
			if p+r > 0 {
				f = 2 * p * r / (p + r)
			}
			if math.Abs(c.Precision-p) > tol || math.Abs(c.Recall-r) > tol || math.Abs(c.F1-f) > tol || float64(c.Support) != tp+fn {
				t.Fatalf("trial %d class %q: got %+v, want P %v R %v F1 %v", trial, c.Label, c, p, r, f)
			}
			sumP, sumR, sumF = sumP+p, sumR+r, sumF+f
			w := tp + fn
			wP, wR, wF = wP+w*p, wR+w*r, wF+w*f
		}
		if k := float64(len(m.Classes)); k > 0 {
			if math.Abs(m.Macro.F1-sumF/k) > tol || math.Abs(m.Macro.Precision-sumP/k) > tol || math.Abs(m.Macro.Recall-sumR/k) > tol {
				t.Fatalf("trial %d macro %+v", trial, m.Macro)
			}
		}
		if n > 0 && (math.Abs(m.Weighted.F1-wF/float64(n)) > tol || math.Abs(m.Weighted.Precision-wP/float64(n)) > tol || math.Abs(m.Weighted.Recall-wR/float64(n)) > tol) {
			t.Fatalf("trial %d weighted %+v", trial, m.Weighted)
		}
		total := 0
		for _, row := range m.Confusion {
			for _, c := range row {
				total += c
			}
		}
		if total != n || len(m.Labels) > 0 && m.Labels[0] != "ok" && slices.Contains(m.Labels, "ok") || !slices.IsSorted(m.Labels[min(1, len(m.Labels)):]) {
			t.Fatalf("trial %d: confusion total %d of %d, labels %q", trial, total, n, m.Labels)
		}
	}
}

func TestComputeLengthMismatchPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("no panic")
		}
	}()
	Compute([]string{"a"}, nil, "a")
}

// TestComputeUnjudged: samples predicted "unjudged" are counted and left
// out of every other figure, which equal Compute on the judged samples.
func TestComputeUnjudged(t *testing.T) {
	got := Compute([]string{"ok", "ok", "not ok"}, []string{"ok", evaluators.Unjudged, evaluators.Unjudged}, "ok")
	want := Metrics{Total: 3, Judged: 1, Unjudged: 2, Correct: 1, Accuracy: 1, Positive: "ok", Precision: 1, Recall: 1, F1: 1,
		Labels: []string{"ok"}, Confusion: [][]int{{1}}, Macro: Average{1, 1, 1}, Weighted: Average{1, 1, 1},
		Classes: []ClassMetrics{{Label: "ok", Precision: 1, Recall: 1, F1: 1, Support: 1, Predicted: 1}}}
	if !metricsClose(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
	if all := Compute([]string{"ok"}, []string{evaluators.Unjudged}, "ok"); all.Judged != 0 || all.Unjudged != 1 ||
		all.Accuracy != 0 || len(all.Labels) != 0 {
		t.Errorf("all unjudged: %+v", all)
	}

	rng := rand.New(rand.NewPCG(3, 4))
	pool := []string{"ok", "not ok", evaluators.Unjudged}
	for trial := range 200 {
		n := rng.IntN(30)
		expected, predicted := make([]string, n), make([]string, n)
		var je, jp []string
		for i := range n {
			expected[i], predicted[i] = pool[rng.IntN(2)], pool[rng.IntN(3)]
			if predicted[i] != evaluators.Unjudged {
				je, jp = append(je, expected[i]), append(jp, predicted[i])
			}
		}
		m := Compute(expected, predicted, "ok")
		checkNoNaN(t, m)
		judged := Compute(je, jp, "ok")
		judged.Total, judged.Unjudged = n, n-len(je)
		if !metricsClose(m, judged) || slices.Contains(m.Labels, evaluators.Unjudged) {
			t.Fatalf("trial %d:\n got %+v\nwant %+v", trial, m, judged)
		}
	}
}
