package nn

import (
	"math"

	"qwentune/engine/ops"
)

// ropeTable holds cos and sin of the rotary angles, [positions, hd/2], for
// head dimension hd and base theta, computed like Hugging Face: inv_freq and
// the angles in float32, then cos and sin rounded to float32.
type ropeTable struct {
	hd       int
	cos, sin []float32
}

// ensure extends the table to cover positions [0, n).
func (r *ropeTable) ensure(n, hd int, theta float64) {
	half := hd / 2
	if r.hd == hd && len(r.cos) >= n*half {
		return
	}
	invFreq := make([]float32, half)
	for j := range invFreq {
		invFreq[j] = float32(1 / float64(float32(math.Pow(theta, float64(float32(2*j)/float32(hd))))))
	}
	r.hd = hd
	r.cos = make([]float32, n*half)
	r.sin = make([]float32, n*half)
	for p := 0; p < n; p++ {
		for j, f := range invFreq {
			a := float64(float32(p) * f)
			r.cos[p*half+j] = float32(math.Cos(a))
			r.sin[p*half+j] = float32(math.Sin(a))
		}
	}
}

// ropeForward rotates x[n, heads·hd] in place, token i at position pos0+i:
// for each head and j < hd/2, the pair (x_j, x_{j+hd/2}) becomes
// (x_j·c − x_{j+hd/2}·s, x_{j+hd/2}·c + x_j·s), i.e. x⊙cos + rotate_half(x)⊙sin.
func ropeForward(x []float32, n, heads, hd, pos0 int, t *ropeTable) {
	rope(x, n, heads, hd, pos0, t, 1)
}

// ropeBackward maps the gradient through the rotation: the transpose of a
// rotation is the rotation by the opposite angle.
func ropeBackward(dx []float32, n, heads, hd, pos0 int, t *ropeTable) {
	rope(dx, n, heads, hd, pos0, t, -1)
}

func rope(x []float32, n, heads, hd, pos0 int, t *ropeTable, sign float32) {
	if small(n * heads * hd) {
		ropeRows(x, heads, hd, pos0, t, sign, 0, n)
		return
	}
	ops.Parallel(n, func(lo, hi int) { ropeRows(x, heads, hd, pos0, t, sign, lo, hi) })
}

func ropeRows(x []float32, heads, hd, pos0 int, t *ropeTable, sign float32, lo, hi int) {
	half, w := hd/2, heads*hd
	for i := lo; i < hi; i++ {
		cs := t.cos[(pos0+i)*half : (pos0+i+1)*half]
		sn := t.sin[(pos0+i)*half : (pos0+i+1)*half]
		for h := 0; h < heads; h++ {
			v := x[i*w+h*hd : i*w+(h+1)*hd]
			for j := 0; j < half; j++ {
				c, s := cs[j], sign*sn[j]
				a, b := v[j], v[j+half]
				v[j] = a*c - b*s
				v[j+half] = b*c + a*s
			}
		}
	}
}
