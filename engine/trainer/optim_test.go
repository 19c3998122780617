package trainer

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"qwentune/engine/nn"
)

// TestAdamWMatchesTorchFormula runs three AdamW steps and compares every
// parameter and moment with the torch formula evaluated in float64.
func TestAdamWMatchesTorchFormula(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	mk := func(name string, n int, decay bool) *nn.Param {
		p := &nn.Param{Name: name, Shape: []int{n}, Data: make([]float32, n), Grad: make([]float32, n), Decay: decay}
		for i := range p.Data {
			p.Data[i] = float32(rng.NormFloat64())
		}
		return p
	}
	params := []*nn.Param{mk("a.lora_A.weight", 7, true), mk("norm.weight", 5, false)}
	type ref struct{ p, m, v []float64 }
	refs := make([]ref, len(params))
	for i, p := range params {
		refs[i] = ref{make([]float64, len(p.Data)), make([]float64, len(p.Data)), make([]float64, len(p.Data))}
		for j, x := range p.Data {
			refs[i].p[j] = float64(x)
		}
	}
	opt := newAdamW(params)
	const wd = 0.1
	lrs := []float64{0.01, 0.02, 0.005}
	for step, lr := range lrs {
		for i, p := range params {
			for j := range p.Grad {
				p.Grad[j] = float32(rng.NormFloat64())
				if j == 0 {
					p.Grad[j] = 0 // a zero gradient still moves through decay and momentum
				}
			}
			r := refs[i]
			tt := float64(step + 1)
			for j, g32 := range p.Grad {
				g := float64(g32)
				if p.Decay {
					r.p[j] -= lr * wd * r.p[j]
				}
				r.m[j] = 0.9*r.m[j] + 0.1*g
				r.v[j] = 0.999*r.v[j] + 0.001*g*g
				mhat := r.m[j] / (1 - math.Pow(0.9, tt))
				vhat := r.v[j] / (1 - math.Pow(0.999, tt))
				r.p[j] -= lr * mhat / (math.Sqrt(vhat) + 1e-8)
			}
		}
		opt.update(lr, wd)
		for i, p := range params {
			for j := range p.Data {
				if d := math.Abs(float64(p.Data[j]) - refs[i].p[j]); d > 2e-6 {
					t.Fatalf("step %d %s[%d]: got %v, torch formula %v", step+1, p.Name, j, p.Data[j], refs[i].p[j])
				}
				if d := math.Abs(float64(opt.expAvg[i][j]) - refs[i].m[j]); d > 1e-6 {
					t.Fatalf("step %d %s[%d] exp_avg: got %v want %v", step+1, p.Name, j, opt.expAvg[i][j], refs[i].m[j])
				}
				if d := math.Abs(float64(opt.expSq[i][j]) - refs[i].v[j]); d > 1e-6*math.Max(1, refs[i].v[j]) {
					t.Fatalf("step %d %s[%d] exp_avg_sq: got %v want %v", step+1, p.Name, j, opt.expSq[i][j], refs[i].v[j])
				}
			}
		}
	}
	if opt.step != 3 {
		t.Fatalf("step count %d, want 3", opt.step)
	}
}

func TestClipGrads(t *testing.T) {
	tests := []struct {
		name    string
		grads   [][]float32
		maxNorm float64
		norm    float64
		scale   float64
	}{
		{"above", [][]float32{{3, 0}, {4}}, 1, 5, 1 / (5 + 1e-6)},
		{"below", [][]float32{{0.3}, {0.4}}, 1, 0.5, 1},
		{"equal is scaled by 1/(1+1e-6)", [][]float32{{0.6}, {0.8}}, 1, 1, 1 / (1 + 1e-6)},
		{"large max", [][]float32{{30}, {40}}, 100, 50, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var params []*nn.Param
			for _, g := range tc.grads {
				params = append(params, &nn.Param{Data: make([]float32, len(g)), Grad: append([]float32(nil), g...)})
			}
			norm := gradNorm(params)
			if math.Abs(norm-tc.norm) > 1e-6 {
				t.Fatalf("norm %v, want %v", norm, tc.norm)
			}
			clipGrads(params, norm, tc.maxNorm)
			for i, p := range params {
				for j, g := range p.Grad {
					want := float64(tc.grads[i][j]) * tc.scale
					if math.Abs(float64(g)-want) > 1e-6*math.Max(1, math.Abs(want)) {
						t.Fatalf("grad[%d][%d] = %v, want %v", i, j, g, want)
					}
				}
			}
		})
	}
}

func TestSchedules(t *testing.T) {
	const lr0 = 2e-4
	cos := func(p float64) float64 { return 0.5 * (1 + math.Cos(math.Pi*p)) }
	tests := []struct {
		kind   string
		warmup int
		ratio  float64
		total  int
		s      int
		want   float64 // factor
	}{
		{"cosine", 0, 0, 3, 0, 1},
		{"cosine", 0, 0, 3, 1, 0.75},
		{"cosine", 0, 0, 3, 2, 0.25},
		{"cosine", 0, 0, 3, 3, 0},
		{"cosine", 2, 0, 10, 0, 0},
		{"cosine", 2, 0, 10, 1, 0.5},
		{"cosine", 2, 0, 10, 2, 1},
		{"cosine", 2, 0, 10, 6, cos(0.5)},
		{"cosine", 2, 0, 10, 9, cos(7.0 / 8)},
		{"cosine", 0, 0.1, 25, 2, 2.0 / 3}, // w = ceil(2.5) = 3
		{"cosine", 0, 0.1, 25, 3, 1},
		{"cosine", 4, 0.5, 10, 3, 0.75}, // warmup_steps wins over the ratio
		{"linear", 0, 0, 4, 0, 1},
		{"linear", 0, 0, 4, 1, 0.75},
		{"linear", 0, 0, 4, 4, 0},
		{"linear", 2, 0, 10, 1, 0.5},
		{"linear", 2, 0, 10, 6, 0.5},
		{"linear", 2, 0, 10, 12, 0},
		{"", 2, 0, 10, 6, 0.5}, // the Trainer's default is linear
		{"constant", 5, 0, 10, 0, 1},
		{"constant", 5, 0, 10, 9, 1},
		{"constant_with_warmup", 4, 0, 10, 0, 0},
		{"constant_with_warmup", 4, 0, 10, 1, 0.25},
		{"constant_with_warmup", 4, 0, 10, 4, 1},
		{"constant_with_warmup", 4, 0, 10, 9, 1},
		{"cosine", 10, 0, 10, 10, 1}, // warmup as long as the run: T−w clamps to 1, progress 0
		{"linear", 0, 0, 1, 0, 1},
	}
	for _, tc := range tests {
		s, err := NewSchedule(tc.kind, lr0, tc.warmup, tc.ratio, tc.total)
		if err != nil {
			t.Fatalf("%+v: %v", tc, err)
		}
		if got := s.LR(tc.s); math.Abs(got-lr0*tc.want) > 1e-18 {
			t.Errorf("%s warmup %d ratio %g T %d: lr(%d) = %v, want %v", tc.kind, tc.warmup, tc.ratio, tc.total, tc.s, got, lr0*tc.want)
		}
	}
	for _, bad := range []struct {
		kind   string
		warmup int
		ratio  float64
		msg    string
	}{{"polynomial", 0, 0, "unknown"}, {"cosine", -1, 0, "warmup_steps"}, {"cosine", 0, 1.5, "warmup_ratio"}} {
		if _, err := NewSchedule(bad.kind, lr0, bad.warmup, bad.ratio, 10); err == nil || !strings.Contains(err.Error(), bad.msg) {
			t.Errorf("%+v: error %v, want one naming %s", bad, err, bad.msg)
		}
	}
}

func TestRound(t *testing.T) {
	tests := []struct {
		x      float64
		digits int
		want   float64
	}{
		{0.123456, 4, 0.1235},
		{0.03125, 4, 0.0312}, // an exact binary tie rounds to even, like Python
		{2.34565, 4, 2.3457}, // 2.34565 is just above the tie in binary
		{1.00004999, 4, 1},
		{-0.00005001, 4, -0.0001},
		{12.5, 0, 12},
	}
	for _, tc := range tests {
		if got := round(tc.x, tc.digits); got != tc.want {
			t.Errorf("round(%v, %d) = %v, want %v", tc.x, tc.digits, got, tc.want)
		}
	}
}
