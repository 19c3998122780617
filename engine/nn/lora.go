package nn

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"

	"qwentune/engine/ops"
	"qwentune/model"
	"qwentune/model/peft"
)

// LoRA is the low-rank update of one projection:
// y = W·x + b + Scale·B·(A·dropout(x)).
type LoRA struct {
	A       *Param // [R, in]
	B       *Param // [out, R]
	R       int
	Scale   float32
	Dropout float32
}

// Adapter is a set of LoRA updates, per layer and targeted projection. It is
// applied unmerged (see Model.SetAdapter), so switching adapters is free.
type Adapter struct {
	Config LoRAConfig
	peft   peft.Config // the adapter_config.json it saves as
	mods   [][numTargets]*LoRA
}

// Module returns the LoRA of projection name ("q_proj", …, "down_proj") in
// layer i, or nil when that projection is not adapted.
func (a *Adapter) Module(i int, name string) *LoRA {
	for t, m := range targetModules {
		if m.Name == name && i >= 0 && i < len(a.mods) {
			return a.mods[i][t]
		}
	}
	return nil
}

// Params returns the trainable tensors in PEFT's named_parameters order:
// layer by layer, projections in module order (q, k, v, o, gate, up, down),
// lora_A before lora_B.
func (a *Adapter) Params() []*Param {
	var ps []*Param
	for i := range a.mods {
		for _, lo := range a.mods[i] {
			if lo != nil {
				ps = append(ps, lo.A, lo.B)
			}
		}
	}
	return ps
}

// NumParams counts the adapter's trainable values.
func (a *Adapter) NumParams() int64 {
	var n int64
	for _, p := range a.Params() {
		n += int64(len(p.Data))
	}
	return n
}

// loraKey is the PEFT tensor key of a LoRA matrix ("A" or "B").
func loraKey(layer int, t target, ab string) string {
	return peft.Key(layer, t.name(), "lora_"+ab)
}

// PEFT returns the adapter_config.json equivalent of c. A TargetModules of
// exactly ["all-linear"] is expanded here, the one place it is, to the list
// of every linear module, as PEFT saves it; any other list is a list of
// module names matched as dotted suffixes.
func (c LoRAConfig) PEFT() peft.Config {
	pc := peft.DefaultConfig()
	pc.R, pc.LoraAlpha, pc.LoraDropout, pc.UseRSLoRA = c.R, c.Alpha, c.Dropout, c.UseRSLoRA
	if len(c.TargetModules) == 1 && strings.EqualFold(c.TargetModules[0], peft.AllLinear) {
		pc.TargetModules = peft.ModuleList(peft.LinearModules...)
	} else {
		pc.TargetModules = peft.ModuleList(c.TargetModules...)
	}
	for k, v := range c.RankPattern {
		pc.RankPattern[k] = v
	}
	for k, v := range c.AlphaPattern {
		pc.AlphaPattern[k] = v
	}
	return pc
}

// loraSpec is where an adapter puts LoRA and with which rank and scale,
// decided by PEFT's rules (target_modules, rank_pattern, alpha_pattern).
type loraSpec struct {
	r     [][numTargets]int // 0: not adapted
	scale [][numTargets]float32
}

// specFor resolves a PEFT config against a base model.
func specFor(pc peft.Config, base model.Config, d dims) (loraSpec, error) {
	if err := pc.Check(); err != nil {
		return loraSpec{}, fmt.Errorf("lora: %w", err)
	}
	if err := pc.CheckTargets(base); err != nil {
		return loraSpec{}, fmt.Errorf("lora: %w", err)
	}
	s := loraSpec{r: make([][numTargets]int, d.nLayers), scale: make([][numTargets]float32, d.nLayers)}
	for i := range s.r {
		for t := range numTargets {
			path := model.LayerPath(i, targetModules[t])
			if pc.Targets(path) {
				s.r[i][t], s.scale[i][t] = pc.RankFor(path), float32(pc.ScaleFor(path))
			}
		}
	}
	return s, nil
}

// buildAdapter allocates an adapter with zeroed matrices laid out by spec.
func buildAdapter(d dims, cfg LoRAConfig, pc peft.Config, s loraSpec) *Adapter {
	a := &Adapter{Config: cfg, peft: pc, mods: make([][numTargets]*LoRA, d.nLayers)}
	for i := range a.mods {
		for t := range numTargets {
			r := s.r[i][t]
			if r == 0 {
				continue
			}
			out, in := d.shape(t)
			a.mods[i][t] = &LoRA{
				A:       &Param{Name: loraKey(i, t, "A"), Shape: []int{r, in}, Data: make([]float32, r*in), Grad: make([]float32, r*in), Decay: true},
				B:       &Param{Name: loraKey(i, t, "B"), Shape: []int{out, r}, Data: make([]float32, out*r), Grad: make([]float32, out*r), Decay: true},
				R:       r,
				Scale:   s.scale[i][t],
				Dropout: float32(pc.LoraDropout),
			}
		}
	}
	return a
}

// NewAdapter creates a fresh adapter with PEFT's initialisation: A is
// kaiming-uniform with a = √5, i.e. U(−1/√in, 1/√in), and B is zero, so the
// adapted model starts equal to the base. The draw is seeded and stable.
func (m *Model) NewAdapter(cfg LoRAConfig, seed int64) (*Adapter, error) {
	pc := cfg.PEFT()
	s, err := specFor(pc, m.Config, m.d)
	if err != nil {
		return nil, err
	}
	a := buildAdapter(m.d, cfg, pc, s)
	rng := rand.New(rand.NewPCG(uint64(seed), 0x4c6f5241))
	for i := range a.mods {
		for _, lo := range a.mods[i] {
			if lo == nil {
				continue
			}
			bound := 1 / math.Sqrt(float64(lo.A.Shape[1]))
			for j := range lo.A.Data {
				lo.A.Data[j] = float32((2*rng.Float64() - 1) * bound)
			}
		}
	}
	return a, nil
}

// SetAdapter makes a the active adapter for every later forward pass; nil
// restores the base model. The adapter must have been built for a model of
// this shape.
func (m *Model) SetAdapter(a *Adapter) {
	if a != nil {
		if err := a.check(m.d); err != nil {
			panic("nn: SetAdapter: " + err.Error())
		}
	}
	m.adapter = a
}

// Adapter returns the active adapter (nil for the base model).
func (m *Model) Adapter() *Adapter { return m.adapter }

// check verifies that a fits a model with dims d.
func (a *Adapter) check(d dims) error {
	if len(a.mods) != d.nLayers {
		return fmt.Errorf("adapter has %d layers, model %d", len(a.mods), d.nLayers)
	}
	for i := range a.mods {
		for t, lo := range a.mods[i] {
			if lo == nil {
				continue
			}
			out, in := d.shape(target(t))
			if len(lo.A.Data) != lo.R*in || len(lo.B.Data) != out*lo.R {
				return fmt.Errorf("layer %d %s: LoRA shapes A %v, B %v do not fit [%d, %d]", i, target(t).name(), lo.A.Shape, lo.B.Shape, out, in)
			}
		}
	}
	return nil
}

// lora returns the active LoRA of a projection, or nil.
func (m *Model) lora(layer int, t target) *LoRA {
	if m.adapter == nil {
		return nil
	}
	return m.adapter.mods[layer][t]
}

// Merge returns a model whose adapted projections carry W' = W + s·B·A, in
// the base model's dtype, for export. Everything else is shared with m,
// which is left unchanged (the merged model has no adapter and is not in
// full-parameter training mode).
func (a *Adapter) Merge(m *Model) (*Model, error) {
	if err := a.check(m.d); err != nil {
		return nil, fmt.Errorf("merge: %v", err)
	}
	mm := &Model{Config: m.Config, EmbedTokens: m.EmbedTokens, Layers: make([]Layer, len(m.Layers)), Norm: RMSNorm{Weight: m.Norm.Weight},
		dtype: m.dtype, d: m.d}
	if m.LMHead == &m.EmbedTokens {
		mm.LMHead = &mm.EmbedTokens
	} else {
		h := *m.LMHead
		mm.LMHead = &h
	}
	for i := range m.Layers {
		mm.Layers[i] = m.Layers[i]
		l := &mm.Layers[i]
		l.InputLayernorm.p, l.PostAttentionLayernorm.p = nil, nil
		for t := range numTargets {
			lin := l.linear(t)
			lin.wp, lin.bp = nil, nil
			lo := a.mods[i][t]
			if lo == nil {
				continue
			}
			out, in := lin.Weight.Rows, lin.Weight.Cols
			w := make([]float32, out*in)
			for o := 0; o < out; o++ {
				lin.Weight.Row(o, w[o*in:(o+1)*in])
			}
			ops.Gemm(false, false, out, in, lo.R, lo.Scale, lo.B.Data, lo.R, lo.A.Data, in, 1, w, in)
			// A merged q8_0 weight stays float32: quantising W + s·B·A
			// again here would round the base twice if the export then
			// encodes it (as Q8_0 or anything else).
			dtype := m.dtype
			if dtype == "q8_0" {
				dtype = "float32"
			}
			lin.Weight = makeWeight(out, in, w, dtype)
		}
	}
	return mm, nil
}

// AdapterFromPEFT builds an adapter from a loaded PEFT adapter for a base
// model with config cfg, after checking that it fits (peft.Adapter.Validate).
// Targets, ranks and scales follow the adapter's config exactly as PEFT
// applies it; the matrices are copied.
func AdapterFromPEFT(pa peft.Adapter, cfg model.Config) (*Adapter, error) {
	d, err := checkConfig(cfg)
	if err != nil {
		return nil, err
	}
	if err := pa.Validate(cfg); err != nil {
		return nil, fmt.Errorf("lora: %w", err)
	}
	s, err := specFor(pa.Config, cfg, d)
	if err != nil {
		return nil, err
	}
	pc := pa.Config
	lc := LoRAConfig{R: pc.R, Alpha: pc.LoraAlpha, Dropout: pc.LoraDropout, UseRSLoRA: pc.UseRSLoRA,
		RankPattern: map[string]int{}, AlphaPattern: map[string]float64{}}
	for k, v := range pc.RankPattern {
		lc.RankPattern[k] = v
	}
	for k, v := range pc.AlphaPattern {
		lc.AlphaPattern[k] = v
	}
	var used [numTargets]bool
	for i := range s.r {
		for t, r := range s.r[i] {
			used[t] = used[t] || r > 0
		}
	}
	for t, u := range used {
		if u {
			lc.TargetModules = append(lc.TargetModules, target(t).name())
		}
	}
	a := buildAdapter(d, lc, pc, s)
	for _, p := range a.Params() {
		src := pa.Tensors[p.Name].Data
		if err := CheckFinite(p.Name, src); err != nil {
			return nil, fmt.Errorf("lora: %w", err)
		}
		copy(p.Data, src)
	}
	return a, nil
}

// ToPEFT returns the adapter as PEFT saves it, with base as
// base_model_name_or_path; the matrices are copied.
func (a *Adapter) ToPEFT(base string) peft.Adapter {
	pc := a.peft
	pc.BaseModelNameOrPath = base
	pa := peft.Adapter{Config: pc, Tensors: map[string]peft.Tensor{}}
	for _, p := range a.Params() {
		pa.Tensors[p.Name] = peft.Tensor{Shape: append([]int(nil), p.Shape...), Data: append([]float32(nil), p.Data...)}
	}
	return pa
}
