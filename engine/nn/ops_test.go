package nn

import (
	"math"
	"math/rand/v2"
	"testing"

	"qwentune/engine/ops"
)

// Each op is checked against a naive float64 implementation and its
// backward against central differences of a scalar loss Σ out ⊙ R with a
// random R. Those differences are taken on the float32 op itself with
// eps = 3e-3: the truncation error (~eps²) and the rounding error of the
// float32 outputs (~1e-7·Σ|R·out|/eps ≈ 1e-4 here) both stay well under the
// tolerance of 5e-3 of the largest gradient.

func randVec(rng *rand.Rand, n int, s float64) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(s * rng.NormFloat64())
	}
	return v
}

// dot64 is Σ a⊙r in float64.
func dot64(a, r []float32) float64 {
	s := 0.0
	for i := range a {
		s += float64(a[i]) * float64(r[i])
	}
	return s
}

// gradCheck compares g, the claimed gradient of f with respect to x, with
// central differences over every element of x.
func gradCheck(t *testing.T, name string, x, g []float32, f func() float64) {
	t.Helper()
	const eps = 3e-3
	var gmax float64
	for _, v := range g {
		gmax = math.Max(gmax, math.Abs(float64(v)))
	}
	if gmax == 0 {
		t.Fatalf("%s: gradient is identically zero", name)
	}
	for i := range x {
		orig := x[i]
		x[i] = orig + eps
		fp := f()
		x[i] = orig - eps
		fm := f()
		x[i] = orig
		want := (fp - fm) / (2 * eps)
		if math.Abs(float64(g[i])-want) > 5e-3*gmax {
			t.Fatalf("%s[%d]: gradient %.6g, finite difference %.6g (max |g| %.3g)", name, i, g[i], want, gmax)
		}
	}
}

func checkClose(t *testing.T, name string, got []float32, want []float64, tol float64) {
	t.Helper()
	if len(got) < len(want) {
		t.Fatalf("%s: %d values, want %d", name, len(got), len(want))
	}
	if e := relErr(got[:len(want)], want); e > tol {
		t.Fatalf("%s: relative error %.3g > %g", name, e, tol)
	}
}

func TestRMSNorm(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	const n, h = 3, 8
	x, w, r := randVec(rng, n*h, 1), randVec(rng, h, 1), randVec(rng, n*h, 1)
	y, rstd := make([]float32, n*h), make([]float32, n)
	rmsnormForward(y, rstd, x, w, n, h, 1e-5)
	checkClose(t, "forward", y, refRMSNorm(f64(x), f64(w), n, h, 1e-5), 1e-6)
	dx, dw := make([]float32, n*h), make([]float32, h)
	rmsnormBackward(dx, dw, r, x, w, rstd, n, h)
	f := func() float64 { rmsnormForward(y, rstd, x, w, n, h, 1e-5); return dot64(y, r) }
	gradCheck(t, "dx", x, dx, f)
	gradCheck(t, "dw", w, dw, f)
}

func TestRoPE(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 2))
	const n, heads, hd, pos0, theta = 4, 3, 8, 5, 10000.0
	var tab ropeTable
	tab.ensure(pos0+n, hd, theta)
	x, r := randVec(rng, n*heads*hd, 1), randVec(rng, n*heads*hd, 1)
	// the reference rotates positions 0..pos0+n−1; keep the last n
	big := make([]float64, (pos0+n)*heads*hd)
	copy(big[pos0*heads*hd:], f64(x))
	refRoPE(big, pos0+n, heads, hd, theta)
	y := append([]float32(nil), x...)
	ropeForward(y, n, heads, hd, pos0, &tab)
	checkClose(t, "forward", y, big[pos0*heads*hd:], 1e-6)
	dx := append([]float32(nil), r...)
	ropeBackward(dx, n, heads, hd, pos0, &tab)
	gradCheck(t, "dx", x, dx, func() float64 {
		copy(y, x)
		ropeForward(y, n, heads, hd, pos0, &tab)
		return dot64(y, r)
	})
}

func TestSwiGLU(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	const n = 24
	g, u, r := randVec(rng, n, 2), randVec(rng, n, 1), randVec(rng, n, 1)
	h := make([]float32, n)
	swigluForward(h, g, u, n)
	want := make([]float64, n)
	for i := range want {
		z := float64(g[i])
		want[i] = z / (1 + math.Exp(-z)) * float64(u[i])
	}
	checkClose(t, "forward", h, want, 1e-6)
	dg, du := make([]float32, n), make([]float32, n)
	swigluBackward(dg, du, r, g, u, n)
	f := func() float64 { swigluForward(h, g, u, n); return dot64(h, r) }
	gradCheck(t, "dgate", g, dg, f)
	gradCheck(t, "dup", u, du, f)
	// in place, as the layer uses it
	g2, u2 := append([]float32(nil), g...), append([]float32(nil), u...)
	swigluBackward(g2, u2, r, g2, u2, n)
	for i := range g2 {
		if g2[i] != dg[i] || u2[i] != du[i] {
			t.Fatalf("in-place backward differs at %d", i)
		}
	}
}

func TestAttention(t *testing.T) {
	for _, tc := range []struct {
		name   string
		nq, nk int
		mask   bool
	}{
		{"square", 5, 5, false},
		{"padded", 6, 6, true},
		{"suffix", 2, 6, false},
		// more than one causalBlock of queries, and a last block cut short
		{"square/blocks", 2*causalBlock + 9, 2*causalBlock + 9, false},
		{"padded/blocks", causalBlock + 3, causalBlock + 3, true},
		{"suffix/blocks", causalBlock + 7, 2*causalBlock + 1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(4, 4))
			d := dims{nh: 4, nkv: 2, hd: 4, Q: 16, KV: 8}
			q, k, v := randVec(rng, tc.nq*d.Q, 1), randVec(rng, tc.nk*d.KV, 1), randVec(rng, tc.nk*d.KV, 1)
			var keyOK []bool
			nv := tc.nk // the valid keys: the last two are padding with mask
			if tc.mask {
				nv = tc.nk - 2
				keyOK = make([]bool, tc.nk)
				for j := range nv {
					keyOK[j] = true
				}
			}
			out, probs := make([]float32, tc.nq*d.Q), make([]float32, d.nh*tc.nq*tc.nk)
			attentionForward(out, probs, q, k, v, tc.nq, tc.nk, d, keyOK, true)
			// reference: run all nk queries over the valid keys and keep the last nq
			qAll := make([]float64, tc.nk*d.Q)
			copy(qAll[(tc.nk-tc.nq)*d.Q:], f64(q))
			ref := refAttention(qAll[:nv*d.Q], f64(k[:nv*d.KV]), f64(v[:nv*d.KV]), nv, d)
			lo := tc.nk - tc.nq
			checkClose(t, "forward", out[:(nv-lo)*d.Q], ref[lo*d.Q:], 1e-5)
			if !tc.mask && tc.nq != tc.nk {
				return
			}
			r := randVec(rng, tc.nq*d.Q, 1)
			dq, dk, dv, dp := make([]float32, len(q)), make([]float32, len(k)), make([]float32, len(v)), make([]float32, tc.nq*tc.nk)
			attentionBackward(dq, dk, dv, r, probs, q, k, v, dp, tc.nq, tc.nk, d)
			// the same with a scratch per kv head: the groups over the pool
			// (more scratches than kv heads: the extra ones unused)
			dq2, dk2, dv2 := make([]float32, len(q)), make([]float32, len(k)), make([]float32, len(v))
			attentionBackward(dq2, dk2, dv2, r, probs, q, k, v, make([]float32, (d.nkv+1)*tc.nq*tc.nk), tc.nq, tc.nk, d)
			checkClose(t, "dq per kv head", dq2, f64(dq), 1e-6)
			checkClose(t, "dk per kv head", dk2, f64(dk), 1e-6)
			checkClose(t, "dv per kv head", dv2, f64(dv), 1e-6)
			f := func() float64 {
				attentionForward(out, probs, q, k, v, tc.nq, tc.nk, d, keyOK, true)
				return dot64(out, r)
			}
			gradCheck(t, "dq", q, dq, f)
			gradCheck(t, "dk", k, dk, f)
			gradCheck(t, "dv", v, dv, f)
		})
	}
}

func TestCrossEntropy(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	const c, v = 3, 11
	z := randVec(rng, c*v, 3)
	tgt := []int{0, 10, 4}
	loss, sum := make([]float64, c), make([]float64, c)
	work := append([]float32(nil), z...)
	crossEntropyForward(loss, sum, work, c, v, tgt)
	for i := 0; i < c; i++ {
		s := 0.0
		for j := 0; j < v; j++ {
			s += math.Exp(float64(z[i*v+j]))
		}
		if want := math.Log(s) - float64(z[i*v+tgt[i]]); math.Abs(loss[i]-want) > 1e-6 {
			t.Fatalf("row %d: loss %v, want %v", i, loss[i], want)
		}
	}
	crossEntropyBackward(work, sum, c, v, tgt, 0.5)
	gradCheck(t, "dz", z, work, func() float64 {
		w := append([]float32(nil), z...)
		crossEntropyForward(loss, sum, w, c, v, tgt)
		return 0.5 * (loss[0] + loss[1] + loss[2])
	})
}

func TestEmbedding(t *testing.T) {
	rng := rand.New(rand.NewPCG(6, 6))
	const v, h = 5, 4
	e := ops.Weight{Rows: v, Cols: h, F32: randVec(rng, v*h, 1)}
	ids := []int{3, 0, 3}
	x := make([]float32, len(ids)*h)
	embeddingForward(x, &e, ids)
	for i, id := range ids {
		for j := 0; j < h; j++ {
			if x[i*h+j] != e.F32[id*h+j] {
				t.Fatalf("row %d col %d", i, j)
			}
		}
	}
	r := randVec(rng, len(x), 1)
	de := make([]float32, v*h)
	embeddingBackward(de, r, ids, h)
	gradCheck(t, "dE", e.F32, de, func() float64 { embeddingForward(x, &e, ids); return dot64(x, r) })
}

func TestLinearLoRA(t *testing.T) {
	for _, dropout := range []float32{0, 0.3} {
		rng := rand.New(rand.NewPCG(7, 7))
		const n, in, out, rank = 3, 6, 5, 2
		lin := &Linear{Weight: ops.Weight{Rows: out, Cols: in, F32: randVec(rng, out*in, 1)}, Bias: randVec(rng, out, 1)}
		lin.wp = &Param{Data: lin.Weight.F32, Grad: make([]float32, out*in)}
		lin.bp = &Param{Data: lin.Bias, Grad: make([]float32, out)}
		lo := &LoRA{A: &Param{Data: randVec(rng, rank*in, 1), Grad: make([]float32, rank*in)},
			B: &Param{Data: randVec(rng, out*rank, 1), Grad: make([]float32, out*rank)}, R: rank, Scale: 1.5, Dropout: dropout}
		x, r := randVec(rng, n*in, 1), randVec(rng, n*out, 1)
		y, u, du, xd := make([]float32, n*out), make([]float32, n*rank), make([]float32, n*rank), make([]float32, n*in)
		const key = 12345
		linearForward(y, x, n, lin, lo, u, xd, key, true)
		want := make([]float64, n*out)
		for i := 0; i < n; i++ {
			for o := 0; o < out; o++ {
				s := float64(lin.Bias[o])
				for c := 0; c < in; c++ {
					s += float64(x[i*in+c]) * float64(lin.Weight.F32[o*in+c])
				}
				for k := 0; k < rank; k++ {
					uk := 0.0
					for c := 0; c < in; c++ {
						xv := float64(x[i*in+c])
						if dropout > 0 {
							if dropoutKeep(key, i*in+c, dropout) {
								xv /= float64(1 - dropout)
							} else {
								xv = 0
							}
						}
						uk += float64(lo.A.Data[k*in+c]) * xv
					}
					s += 1.5 * float64(lo.B.Data[o*rank+k]) * uk
				}
				want[i*out+o] = s
			}
		}
		checkClose(t, "forward", y, want, 1e-6)
		dx := make([]float32, n*in)
		linearBackward(dx, r, x, n, lin, lo, u, du, xd, key, true, false)
		f := func() float64 { linearForward(y, x, n, lin, lo, u, xd, key, true); return dot64(y, r) }
		gradCheck(t, "dx", x, dx, f)
		gradCheck(t, "dW", lin.Weight.F32, lin.wp.Grad, f)
		gradCheck(t, "db", lin.Bias, lin.bp.Grad, f)
		gradCheck(t, "dA", lo.A.Data, lo.A.Grad, f)
		gradCheck(t, "dB", lo.B.Data, lo.B.Grad, f)
	}
}

func TestDropoutMask(t *testing.T) {
	const n, p = 100000, 0.3
	key := dropoutKey(42, 3, vProj)
	kept := 0
	for i := 0; i < n; i++ {
		if dropoutKeep(key, i, p) {
			kept++
		}
	}
	if f := float64(kept) / n; math.Abs(f-(1-p)) > 0.01 {
		t.Fatalf("kept fraction %v, want %v", f, 1-p)
	}
	if dropoutKey(42, 3, vProj) != key || dropoutKey(43, 3, vProj) == key || dropoutKey(42, 3, qProj) == key || dropoutKey(42, 2, vProj) == key {
		t.Fatal("dropout keys are not a function of (seed, layer, projection)")
	}
}
