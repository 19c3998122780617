package trainer

import (
	"fmt"
	"math"

	"qwentune/engine/nn"
)

// AdamW hyper-parameters of torch.optim.AdamW as the Trainer builds it
// (adam_beta1, adam_beta2, adam_epsilon defaults).
const (
	Beta1   = 0.9
	Beta2   = 0.999
	Epsilon = 1e-8
)

// clipEpsilon is the 1e-6 torch.nn.utils.clip_grad_norm_ adds to the norm.
const clipEpsilon = 1e-6

// adamW is torch.optim.AdamW (non-amsgrad, maximize off) over a fixed list of
// parameters: exp_avg and exp_avg_sq per parameter and one shared step count,
// as every trainable parameter is stepped at every update.
type adamW struct {
	params []*nn.Param
	expAvg [][]float32
	expSq  [][]float32
	step   int
}

// newAdamW allocates zero moments for params.
func newAdamW(params []*nn.Param) *adamW {
	a := &adamW{params: params, expAvg: make([][]float32, len(params)), expSq: make([][]float32, len(params))}
	for i, p := range params {
		a.expAvg[i] = make([]float32, len(p.Data))
		a.expSq[i] = make([]float32, len(p.Data))
	}
	return a
}

// update applies one AdamW step with learning rate lr and decoupled weight
// decay wd (only on parameters with Decay), in the order and precision of
// torch's single-tensor implementation: scalars are computed in float64 and
// the element-wise work in float32:
//
//	p ← p·(1 − lr·wd)
//	m ← m + (1−β1)·(g − m)          (torch's lerp)
//	v ← β2·v + (1−β2)·g²
//	p ← p − lr/(1−β1ᵗ) · m / (√v/√(1−β2ᵗ) + eps)
func (a *adamW) update(lr, wd float64) {
	a.step++
	bc1 := 1 - math.Pow(Beta1, float64(a.step))
	bc2Sqrt := math.Sqrt(1 - math.Pow(Beta2, float64(a.step)))
	stepSize := float32(lr / bc1)
	decay := float32(1 - lr*wd)
	w1 := float32(1 - Beta1)
	b2 := float32(Beta2)
	w2 := float32(1 - Beta2)
	bc2 := float32(bc2Sqrt)
	eps := float32(Epsilon)
	for i, p := range a.params {
		m, v := a.expAvg[i], a.expSq[i]
		if p.Decay && wd != 0 {
			for j := range p.Data {
				p.Data[j] *= decay
			}
		}
		for j, g := range p.Grad {
			m[j] += w1 * (g - m[j])
			v[j] = v[j]*b2 + w2*g*g
			denom := float32(math.Sqrt(float64(v[j])))/bc2 + eps
			p.Data[j] -= stepSize * (m[j] / denom)
		}
	}
}

// gradNorm returns the L2 norm of all trainable gradients together,
// accumulated in float64.
func gradNorm(params []*nn.Param) float64 {
	var s float64
	for _, p := range params {
		for _, g := range p.Grad {
			s += float64(g) * float64(g)
		}
	}
	return math.Sqrt(s)
}

// clipGrads scales every gradient by maxNorm/(norm + 1e-6) when that factor is
// below 1, as torch.nn.utils.clip_grad_norm_ does; norm is the pre-clip
// total norm from gradNorm.
func clipGrads(params []*nn.Param, norm, maxNorm float64) {
	coef := maxNorm / (norm + clipEpsilon)
	if coef >= 1 {
		return
	}
	c := float32(coef)
	for _, p := range params {
		for j := range p.Grad {
			p.Grad[j] *= c
		}
	}
}

// zeroGrads sets every gradient to zero.
func zeroGrads(params []*nn.Param) {
	for _, p := range params {
		clear(p.Grad)
	}
}

// Scheduler names accepted in Options.Scheduler, as transformers'
// SchedulerType spells them.
const (
	SchedulerLinear             = "linear"
	SchedulerCosine             = "cosine"
	SchedulerConstant           = "constant"
	SchedulerConstantWithWarmup = "constant_with_warmup"
)

// cosineCycles is transformers' num_cycles default: half a cosine wave.
const cosineCycles = 0.5

// Schedule is a learning-rate schedule over Total optimizer steps with Warmup
// warm-up steps, equal to transformers' get_*_schedule_with_warmup.
type Schedule struct {
	Kind   string
	BaseLR float64
	Warmup int
	Total  int
}

// NewSchedule validates kind ("" means linear, the Trainer's default) and
// resolves the warm-up: warmupSteps when positive, else ceil(ratio·total),
// as TrainingArguments.get_warmup_steps does.
func NewSchedule(kind string, baseLR float64, warmupSteps int, warmupRatio float64, total int) (Schedule, error) {
	if kind == "" {
		kind = SchedulerLinear
	}
	switch kind {
	case SchedulerLinear, SchedulerCosine, SchedulerConstant, SchedulerConstantWithWarmup:
	default:
		return Schedule{}, fmt.Errorf("scheduler %q: unknown (want cosine, linear, constant or constant_with_warmup)", kind)
	}
	if warmupSteps < 0 {
		return Schedule{}, fmt.Errorf("warmup_steps %d: must be ≥ 0", warmupSteps)
	}
	if warmupRatio < 0 || warmupRatio > 1 {
		return Schedule{}, fmt.Errorf("warmup_ratio %g: must be in [0, 1]", warmupRatio)
	}
	w := warmupSteps
	if w == 0 {
		w = int(math.Ceil(float64(total) * warmupRatio))
	}
	return Schedule{Kind: kind, BaseLR: baseLR, Warmup: w, Total: total}, nil
}

// Factor is the multiplier of BaseLR for the update that follows s finished
// steps (LambdaLR's lr_lambda(s)).
func (c Schedule) Factor(s int) float64 {
	if c.Kind == SchedulerConstant {
		return 1
	}
	if s < c.Warmup {
		return float64(s) / float64(max(1, c.Warmup))
	}
	switch c.Kind {
	case SchedulerConstantWithWarmup:
		return 1
	case SchedulerLinear:
		return math.Max(0, float64(c.Total-s)/float64(max(1, c.Total-c.Warmup)))
	default: // cosine
		progress := float64(s-c.Warmup) / float64(max(1, c.Total-c.Warmup))
		return math.Max(0, 0.5*(1+math.Cos(math.Pi*cosineCycles*2*progress)))
	}
}

// LR is the learning rate the update after s finished steps uses.
func (c Schedule) LR(s int) float64 { return c.BaseLR * c.Factor(s) }
