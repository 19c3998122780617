package ops

import (
	"math"
	"math/rand/v2"
	"testing"
)

// refSplitmix64 and refDropoutKeep are engine/nn's dropout mask, copied.
func refSplitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

func refDropoutKeep(key uint64, e int, p float32) bool {
	u := float32(refSplitmix64(key+uint64(e)*0xd1b54a32d192ed03)>>40) * (1.0 / (1 << 24))
	return u >= p
}

// refDropout is engine/nn's scalar dropout loop for elements first+i.
func refDropout(y, x []float32, key uint64, first int, p float32) {
	s := 1 / (1 - p)
	for i := range x {
		if refDropoutKeep(key, first+i, p) {
			y[i] = x[i] * s
		} else {
			y[i] = 0
		}
	}
}

// dropoutRates are the rates in use and the edges of the threshold: p ≤ 0
// keeps everything, p ≥ 1 and NaN nothing, 1−2^-24 only u = 1−2^-24 and
// the smallest subnormal everything but u = 0.
var dropoutRates = []float32{0, 0.05, 0.1, 0.5, 0.999, 1 - 0x1p-24, 0x1p-149, 1, 1.5, -0.25,
	float32(math.Copysign(0, -1)), float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1))}

// TestDropoutThreshold checks the integer threshold against the float
// comparison it replaces, at the threshold and either side of it.
func TestDropoutThreshold(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	ps := append([]float32(nil), dropoutRates...)
	for range 100000 {
		ps = append(ps, rng.Float32(), math.Float32frombits(rng.Uint32()))
	}
	for _, p := range ps {
		thr := int64(dropoutThreshold(p))
		for h := thr - 2; h <= thr+2; h++ {
			if h < 0 || h >= 1<<24 {
				continue
			}
			if want, got := float32(h)*(1.0/(1<<24)) >= p, h >= thr; got != want {
				t.Fatalf("p=%g: threshold %d keeps h=%d: %v, want %v", p, thr, h, got, want)
			}
		}
	}
}

// TestDropout checks Dropout bit for bit against engine/nn's scalar loop on
// every instruction set: all lengths up to 70 (every tail of the 8- and
// 16-lane loops), odd and large element offsets, y separate (and longer than
// x, which must stay untouched past len(x)) or y = x.
func TestDropout(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	keys := []uint64{0, 0x0123456789abcdef, rng.Uint64()}
	firsts := []int{0, 1, 7, 12345, 1<<40 + 3}
	eachFamily(t, func(t *testing.T, isa Family) {
		for _, key := range keys {
			for _, first := range firsts {
				for _, p := range dropoutRates {
					for n := 0; n <= 70; n++ {
						dropoutCase(t, rng, isa, key, first, p, n)
					}
					for _, n := range []int{127, 128, 129, 1000, 4099} {
						dropoutCase(t, rng, isa, key, first, p, n)
					}
				}
				// p equal to the u of one element, which u >= p keeps, and
				// the next float32 up, which drops it: the comparison at
				// equality, which random rates almost never reach.
				for n := 1; n <= 70; n++ {
					e := first + rng.IntN(n)
					u := float32(refSplitmix64(key+uint64(e)*0xd1b54a32d192ed03)>>40) * (1.0 / (1 << 24))
					dropoutCase(t, rng, isa, key, first, u, n)
					dropoutCase(t, rng, isa, key, first, math.Nextafter32(u, 1), n)
				}
			}
		}
	})
}

func dropoutCase(t *testing.T, rng *rand.Rand, isa Family, key uint64, first int, p float32, n int) {
	t.Helper()
	x := vecInput(rng, n)
	want := make([]float32, n)
	refDropout(want, x, key, first, p)
	const guard = 3
	y := make([]float32, n+guard)
	for i := range y {
		y[i] = 7
	}
	Dropout(y, x, key, first, p)
	alias := append([]float32(nil), x...)
	Dropout(alias, alias, key, first, p)
	for i := range want {
		w := math.Float32bits(want[i])
		if g := math.Float32bits(y[i]); g != w {
			t.Fatalf("%s key=%#x first=%d p=%g n=%d: y[%d] = %g (%#08x), want %g (%#08x)", isa, key, first, p, n, i, y[i], g, want[i], w)
		}
		if g := math.Float32bits(alias[i]); g != w {
			t.Fatalf("%s key=%#x first=%d p=%g n=%d, y = x: y[%d] = %g, want %g", isa, key, first, p, n, i, alias[i], want[i])
		}
	}
	for i := n; i < len(y); i++ {
		if y[i] != 7 {
			t.Fatalf("%s p=%g n=%d: y[%d] = %g written past len(x)", isa, p, n, i, y[i])
		}
	}
}

// TestDropoutChunks checks that chunks with their offsets make up the whole,
// as ops.Parallel cuts them in engine/nn.
func TestDropoutChunks(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	const n, key, p = 10007, 99, 0.1
	x := vecInput(rng, n)
	eachFamily(t, func(t *testing.T, isa Family) {
		whole := make([]float32, n)
		Dropout(whole, x, key, 0, p)
		parts := make([]float32, n)
		for _, cut := range [][2]int{{0, 13}, {13, 4000}, {4000, 4001}, {4001, n}} {
			Dropout(parts[cut[0]:cut[1]], x[cut[0]:cut[1]], key, cut[0], p)
		}
		for i := range whole {
			if math.Float32bits(whole[i]) != math.Float32bits(parts[i]) {
				t.Fatalf("%s: element %d: chunked %g, whole %g", isa, i, parts[i], whole[i])
			}
		}
	})
}

// BenchmarkDropout is one thread over 1M elements (a [682, 1536] input) at
// p = 0.05 on each instruction set, against engine/nn's former Go loop.
func BenchmarkDropout(b *testing.B) {
	const n, p = 1 << 20, 0.05
	x, y := patternSlice(n), make([]float32, n)
	report := func(b *testing.B) {
		b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds()/1e6, "Melem/s")
	}
	b.Run("go", func(b *testing.B) {
		for b.Loop() {
			refDropout(y, x, 42, 0, p)
		}
		report(b)
	})
	eachFamilyBench(b, func(isa Family) {
		b.Run(isa.String(), func(b *testing.B) {
			for b.Loop() {
				Dropout(y, x, 42, 0, p)
			}
			report(b)
		})
	})
}
