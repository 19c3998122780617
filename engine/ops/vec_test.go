package ops

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestScale checks Scale bit for bit against the Go loop, and that it stays
// within the row.
func TestScale(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	lengths := append([]int(nil), elemLengths...)
	for n := 0; n <= 70; n++ {
		lengths = append(lengths, n)
	}
	eachFamily(t, func(t *testing.T, isa Family) {
		for _, n := range lengths {
			for _, k := range []float32{0, 1, -3.5, 1e-30, 1e30, float32(math.Inf(1)), float32(math.NaN()), rng.Float32()} {
				x := vecInput(rng, n)
				buf := make([]float32, n+3)
				for i := range buf {
					buf[i] = 7
				}
				copy(buf, x)
				Scale(buf[:n], k)
				for i, xi := range x {
					want := xi * k
					if math.Float32bits(buf[i]) != math.Float32bits(want) {
						t.Fatalf("%s n=%d k=%g: row[%d] = %g, want %g", isa, n, k, i, buf[i], want)
					}
				}
				for i := n; i < len(buf); i++ {
					if buf[i] != 7 {
						t.Fatalf("%s n=%d: element %d past the row written", isa, n, i)
					}
				}
			}
		}
	})
}

// BenchmarkScale is one 151,936-logit row.
func BenchmarkScale(b *testing.B) {
	const n = 151936
	row := patternSlice(n)
	k := float32(1)
	b.Run("go", func(b *testing.B) {
		for b.Loop() {
			for j := range row {
				row[j] *= k
			}
		}
		b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds()/1e6, "Melem/s")
	})
	eachFamilyBench(b, func(isa Family) {
		b.Run(isa.String(), func(b *testing.B) {
			for b.Loop() {
				Scale(row, k)
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds()/1e6, "Melem/s")
		})
	})
}
