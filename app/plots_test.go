package app

import (
	"image"
	"testing"

	"gonum.org/v1/plot/vg"
)

// sameImage reports whether a and b have the same size and pixels.
func sameImage(a, b image.Image) bool {
	if a.Bounds() != b.Bounds() {
		return false
	}
	r := a.Bounds()
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			if a.At(x, y) != b.At(x, y) {
				return false
			}
		}
	}
	return true
}

// A plot without data says what will appear there instead of drawing
// axes around nothing.
func TestEmptyPlotsSayWhatWillAppear(t *testing.T) {
	w, h := 4*vg.Inch, 2*vg.Inch
	for _, c := range []struct {
		name    string
		got     image.Image
		title   string
		message string
	}{
		{"line", LinePlot("Training loss", "step", "loss", []Series{{Name: "loss"}}, w, h),
			"Training loss", "Training loss appears here after the first step."},
		{"histogram", Histogram(nil, 512, w, h),
			"Row lengths in tokens", "The length of every training row appears here once the data is inspected."},
		{"confusion", Confusion("Confusion matrix", nil, nil, w, h),
			"Confusion matrix", "Counts of each expected and predicted label appear here after an evaluation."},
	} {
		if !sameImage(c.got, emptyPlot(c.title, c.message, w, h)) {
			t.Errorf("%s: the empty plot is not the notice %q", c.name, c.message)
		}
		if sameImage(c.got, emptyPlot(c.title, "", w, h)) {
			t.Errorf("%s: the notice draws nothing", c.name)
		}
	}
	// A notice wider than a narrow plot is wrapped, not cut: nothing is
	// drawn in the image's outermost columns.
	narrow := Confusion("Confusion matrix", nil, nil, 2*vg.Inch, 2*vg.Inch)
	r := narrow.Bounds()
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for _, x := range []int{r.Min.X, r.Min.X + 1, r.Max.X - 2, r.Max.X - 1} {
			if cr, cg, cb, _ := narrow.At(x, y).RGBA(); cr != 0xffff || cg != 0xffff || cb != 0xffff {
				t.Fatalf("the narrow notice reaches the edge at (%d, %d)", x, y)
			}
		}
	}
	// With data it is a real plot.
	full := LinePlot("Training loss", "step", "loss", []Series{{Name: "loss", X: []float64{1, 2}, Y: []float64{5, 4}}}, w, h)
	if sameImage(full, emptyPlot("Training loss", "Training loss appears here after the first step.", w, h)) {
		t.Error("a plot with data shows the notice")
	}
}
