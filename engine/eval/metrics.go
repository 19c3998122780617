package eval

import (
	"fmt"
	"slices"
	"sort"

	"gonum.org/v1/gonum/floats"
	"gonum.org/v1/gonum/stat"

	"qwentune/plugins/evaluators"
)

// Metrics summarises expected against predicted labels. Every ratio whose
// denominator is zero is 0, never NaN (scikit-learn's zero_division=0).
//
// Samples the evaluator could not judge (predicted evaluators.Unjudged, e.g.
// a judge model that named no label) are counted in Unjudged and left out
// of everything else: the confusion matrix, Labels, Classes and every
// ratio are those of the Judged samples, so read Accuracy together with
// Judged of Total (the coverage) — an evaluator that judges half the
// samples has measured only that half.
type Metrics struct {
	// Total is the number of samples, Judged + Unjudged.
	Total    int `json:"total"`
	Judged   int `json:"judged"`
	Unjudged int `json:"unjudged"`
	// Correct is how many judged samples were predicted right.
	Correct int `json:"correct"`
	// Accuracy is Correct / Judged.
	Accuracy float64 `json:"accuracy"`
	// Positive is the label Precision, Recall and F1 are reported for.
	Positive string `json:"positive"`
	// Precision, Recall and F1 of the Positive label.
	Precision float64 `json:"precision"`
	Recall    float64 `json:"recall"`
	F1        float64 `json:"f1"`
	// Labels is every label seen, expected or predicted: Positive first
	// (when seen), the others sorted. It orders Classes and Confusion.
	Labels []string `json:"labels"`
	// Classes holds per-label figures, in Labels order.
	Classes []ClassMetrics `json:"classes"`
	// Macro is the unweighted mean over Classes, Weighted the mean weighted
	// by support.
	Macro    Average `json:"macro"`
	Weighted Average `json:"weighted"`
	// Confusion[i][j] counts samples expected Labels[i] and predicted
	// Labels[j].
	Confusion [][]int `json:"confusion"`
}

// ClassMetrics are the one-vs-rest figures of one label.
type ClassMetrics struct {
	Label string `json:"label"`
	// Precision = TP / (TP + FP), Recall = TP / (TP + FN), F1 their
	// harmonic mean.
	Precision float64 `json:"precision"`
	Recall    float64 `json:"recall"`
	F1        float64 `json:"f1"`
	// Support is how many samples expect the label, Predicted how many
	// were given it.
	Support   int `json:"support"`
	Predicted int `json:"predicted"`
}

// Average is a mean of per-class precision, recall and F1.
type Average struct {
	Precision float64 `json:"precision"`
	Recall    float64 `json:"recall"`
	F1        float64 `json:"f1"`
}

// Compute compares expected[i] with predicted[i]. positive names the label
// whose precision, recall and F1 fill the top-level fields (0 when it is
// never seen). Samples predicted evaluators.Unjudged are only counted (see
// Metrics). It panics if the slices differ in length.
func Compute(expected, predicted []string, positive string) Metrics {
	if len(expected) != len(predicted) {
		panic(fmt.Sprintf("eval: Compute: %d expected labels, %d predicted", len(expected), len(predicted)))
	}
	total := len(expected)
	if slices.Contains(predicted, evaluators.Unjudged) {
		var e, p []string
		for i := range predicted {
			if predicted[i] != evaluators.Unjudged {
				e, p = append(e, expected[i]), append(p, predicted[i])
			}
		}
		expected, predicted = e, p
	}
	labels := sortLabels(expected, predicted, positive)
	index := make(map[string]int, len(labels))
	for i, l := range labels {
		index[l] = i
	}
	m := Metrics{Total: total, Judged: len(expected), Unjudged: total - len(expected), Positive: positive,
		Labels: labels, Confusion: make([][]int, len(labels))}
	for i := range m.Confusion {
		m.Confusion[i] = make([]int, len(labels))
	}
	for i := range expected {
		m.Confusion[index[expected[i]]][index[predicted[i]]]++
		if expected[i] == predicted[i] {
			m.Correct++
		}
	}
	m.Accuracy = ratio(m.Correct, m.Judged)

	precision := make([]float64, len(labels))
	recall := make([]float64, len(labels))
	f1 := make([]float64, len(labels))
	support := make([]float64, len(labels))
	for k, label := range labels {
		tp := m.Confusion[k][k]
		c := ClassMetrics{Label: label}
		for j := range labels {
			c.Support += m.Confusion[k][j]
			c.Predicted += m.Confusion[j][k]
		}
		c.Precision = ratio(tp, c.Predicted)
		c.Recall = ratio(tp, c.Support)
		c.F1 = ratio(2*tp, c.Support+c.Predicted)
		m.Classes = append(m.Classes, c)
		precision[k], recall[k], f1[k], support[k] = c.Precision, c.Recall, c.F1, float64(c.Support)
		if label == positive {
			m.Precision, m.Recall, m.F1 = c.Precision, c.Recall, c.F1
		}
	}
	if len(labels) > 0 {
		m.Macro = Average{stat.Mean(precision, nil), stat.Mean(recall, nil), stat.Mean(f1, nil)}
	}
	if floats.Sum(support) > 0 {
		m.Weighted = Average{stat.Mean(precision, support), stat.Mean(recall, support), stat.Mean(f1, support)}
	}
	return m
}

// ratio is a/b, or 0 when b is 0.
func ratio(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// sortLabels returns the distinct labels of both slices, positive first
// when present, the rest in byte order.
func sortLabels(expected, predicted []string, positive string) []string {
	seen := map[string]bool{}
	var labels []string
	for _, l := range slices.Concat(expected, predicted) {
		if !seen[l] {
			seen[l] = true
			labels = append(labels, l)
		}
	}
	sort.Slice(labels, func(i, j int) bool {
		if (labels[i] == positive) != (labels[j] == positive) {
			return labels[i] == positive
		}
		return labels[i] < labels[j]
	})
	return labels
}
