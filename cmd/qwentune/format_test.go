package main

import (
	"math"
	"testing"
)

func TestFmtETA(t *testing.T) {
	for _, c := range []struct {
		sec  float64
		want string
	}{
		{0, "0:00:00"}, {59.9, "0:00:59"}, {3725, "1:02:05"}, {-1, "?"}, {math.NaN(), "?"}, {math.Inf(1), "?"},
	} {
		if got := fmtETA(c.sec); got != c.want {
			t.Errorf("fmtETA(%g) = %q, want %q", c.sec, got, c.want)
		}
	}
}
