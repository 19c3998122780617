// Package generate produces text continuations with an nn.Model: greedy or
// sampled decoding over the model's KV cache, with Hugging Face's logits
// processors (repetition penalty, temperature, top-k, top-p) applied in
// generate()'s order.
package generate

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"qwentune/engine/nn"
	"qwentune/engine/ops"
)

// Options controls decoding.
type Options struct {
	// MaxNewTokens bounds the number of generated tokens.
	MaxNewTokens int
	// Temperature divides the logits before sampling; 0 means greedy.
	Temperature float64
	// TopP keeps the smallest set of most likely tokens whose probability
	// reaches TopP (at least one); 0 or ≥ 1 disables it.
	TopP float64
	// TopK keeps the TopK most likely tokens and every token tied with the
	// k-th; 0 disables it and 1 is greedy.
	TopK int
	// RepetitionPenalty divides the positive logits (multiplies the
	// negative ones) of every token already in the sequence, prompt
	// included; 0 or 1 disables it.
	RepetitionPenalty float64
	// Seed seeds the PCG generator the tokens are drawn with.
	Seed int64
	// StopIDs end generation when produced (the stop token is returned).
	StopIDs []int
}

// Greedy reports whether o picks the most likely token at each step.
func (o Options) Greedy() bool { return o.Temperature == 0 || o.TopK == 1 }

// Validate refuses meaningless options.
func (o Options) Validate() error {
	switch {
	case o.MaxNewTokens < 0:
		return fmt.Errorf("generate: max_new_tokens %d is negative", o.MaxNewTokens)
	case o.Temperature < 0 || math.IsNaN(o.Temperature) || math.IsInf(o.Temperature, 0):
		return fmt.Errorf("generate: temperature %g must be ≥ 0", o.Temperature)
	case o.TopP < 0 || math.IsNaN(o.TopP):
		return fmt.Errorf("generate: top_p %g must be ≥ 0", o.TopP)
	case o.TopK < 0:
		return fmt.Errorf("generate: top_k %d is negative", o.TopK)
	case o.RepetitionPenalty < 0 || math.IsNaN(o.RepetitionPenalty) || math.IsInf(o.RepetitionPenalty, 0):
		return fmt.Errorf("generate: repetition_penalty %g must be ≥ 0", o.RepetitionPenalty)
	}
	return nil
}

// Generate continues prompt with up to o.MaxNewTokens tokens and returns
// the generated ids (not the prompt). It stops after a token in o.StopIDs,
// which is included in the result like Hugging Face's generate() (callers
// strip it). onToken, when not nil, sees each token as it is produced and
// may stop generation by returning an error, which Generate returns with
// the tokens so far. ctx is checked before every token. The model's active
// adapter is used.
func Generate(ctx context.Context, m *nn.Model, prompt []int, o Options, onToken func(id int) error) ([]int, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	v := m.Config.VocabSize
	if err := checkPrompt(prompt, v); err != nil {
		return nil, err
	}
	if o.MaxNewTokens == 0 {
		return nil, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c := m.NewCache(len(prompt) + o.MaxNewTokens)
	s := newSampler(o, v, prompt, 0)
	logits := m.Step(c, prompt)
	var out []int
	last := make([]int, 1)
	for {
		if err := ctx.Err(); err != nil {
			return out, err
		}
		id := s.next(logits)
		out = append(out, id)
		if onToken != nil {
			if err := onToken(id); err != nil {
				return out, err
			}
		}
		if slices.Contains(o.StopIDs, id) || len(out) == o.MaxNewTokens {
			return out, nil
		}
		last[0] = id
		logits = m.Step(c, last)
	}
}

// checkPrompt refuses an empty prompt or ids outside the vocabulary.
func checkPrompt(prompt []int, v int) error {
	if len(prompt) == 0 {
		return fmt.Errorf("generate: empty prompt")
	}
	for i, id := range prompt {
		if id < 0 || id >= v {
			return fmt.Errorf("generate: prompt position %d: token id %d outside [0, %d)", i, id, v)
		}
	}
	return nil
}

// GenerateBatch continues every prompt like Generate, decoding the rows
// together with nn.Model.StepBatch so that each step reads the weights once
// for all rows (prompts are prefilled one by one). Row j draws from its own
// generator seeded by (o.Seed, j), so row 0 reproduces Generate with the
// same options. Each row stops on its own stop id or at o.MaxNewTokens;
// onToken, when not nil, sees (row, id) as tokens are produced and may stop
// everything by returning an error. ctx is checked before every step.
func GenerateBatch(ctx context.Context, m *nn.Model, prompts [][]int, o Options, onToken func(row, id int) error) ([][]int, error) {
	return generateRows(ctx, m, prompts, o, func(j int, p []int) *sampler {
		return newSampler(o, m.Config.VocabSize, p, j)
	}, onToken)
}

// GenerateEach continues every prompt exactly as Generate would with seed
// seeds[j]: row j's tokens are Generate(prompts[j]) with o.Seed = seeds[j],
// bit for bit, however the rows are batched. The rows are decoded together,
// at most MaxBatch per step, which reads the weights once for them all
// (about 3x the tokens per second of one row at a time on the Qwen2-1.5B
// shape). Stopping, onToken and ctx are as in GenerateBatch.
func GenerateEach(ctx context.Context, m *nn.Model, prompts [][]int, seeds []int64, o Options, onToken func(row, id int) error) ([][]int, error) {
	if len(seeds) != len(prompts) {
		return nil, fmt.Errorf("generate: %d seeds for %d prompts", len(seeds), len(prompts))
	}
	return generateRows(ctx, m, prompts, o, func(j int, p []int) *sampler {
		oj := o
		oj.Seed = seeds[j]
		return newSampler(oj, m.Config.VocabSize, p, 0)
	}, onToken)
}

// MaxBatch is the most rows GenerateEach and GenerateBatch decode in one
// step: up to ops.GEMVMaxN rows, a batched step gives each row the logits
// that a step of that row alone gives (nn.Model.StepBatch).
const MaxBatch = ops.GEMVMaxN

// generateRows is GenerateBatch and GenerateEach, row j sampling with
// newRow(j, prompts[j]).
func generateRows(ctx context.Context, m *nn.Model, prompts [][]int, o Options, newRow func(j int, prompt []int) *sampler, onToken func(row, id int) error) ([][]int, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	v := m.Config.VocabSize
	for j, p := range prompts {
		if err := checkPrompt(p, v); err != nil {
			return nil, fmt.Errorf("row %d: %w", j, err)
		}
	}
	out := make([][]int, len(prompts))
	if o.MaxNewTokens == 0 || len(prompts) == 0 {
		return out, nil
	}
	caches := make([]*nn.Cache, len(prompts))
	samplers := make([]*sampler, len(prompts))
	logits := make([][]float32, len(prompts))
	active := make([]int, 0, len(prompts))
	for j, p := range prompts {
		if err := ctx.Err(); err != nil {
			return out, err
		}
		caches[j] = m.NewCache(len(p) + o.MaxNewTokens)
		samplers[j] = newRow(j, p)
		logits[j] = m.Step(caches[j], p)
		active = append(active, j)
	}
	var ids []int
	var cs []*nn.Cache
	for {
		if err := ctx.Err(); err != nil {
			return out, err
		}
		keep := active[:0]
		ids, cs = ids[:0], cs[:0]
		for _, j := range active {
			id := samplers[j].next(logits[j])
			out[j] = append(out[j], id)
			if onToken != nil {
				if err := onToken(j, id); err != nil {
					return out, err
				}
			}
			if !slices.Contains(o.StopIDs, id) && len(out[j]) < o.MaxNewTokens {
				keep = append(keep, j)
				ids, cs = append(ids, id), append(cs, caches[j])
			}
		}
		if len(keep) == 0 {
			return out, nil
		}
		for lo := 0; lo < len(keep); lo += MaxBatch {
			hi := min(lo+MaxBatch, len(keep))
			for i, l := range m.StepBatch(cs[lo:hi], ids[lo:hi]) {
				logits[keep[lo+i]] = l
			}
		}
		active = keep
	}
}

// sampler turns logits into tokens; it owns all per-step buffers.
type sampler struct {
	o       Options
	rng     *rand.Rand
	seen    []bool    // [V] token occurs in the sequence
	seenIDs []int     // distinct ids in the sequence
	z       []float64 // [V] working scores
	order   []int     // candidate ids
	probs   []float64 // their probabilities
	heap    []float64 // top-k selection
	// top-p sorting scratch
	idx       []int
	sortedIDs []int
	sortedW   []float64
}

// newSampler makes the sampler of one sequence; row selects an independent
// random stream for batched generation (row 0 is Generate's).
func newSampler(o Options, v int, prompt []int, row int) *sampler {
	s := &sampler{o: o, rng: rand.New(rand.NewPCG(uint64(o.Seed), 0x5eed5eed+uint64(row))), seen: make([]bool, v), z: make([]float64, v), order: make([]int, 0, v), probs: make([]float64, v), heap: make([]float64, 0, max(o.TopK, 0)),
		idx: make([]int, 0, v), sortedIDs: make([]int, v), sortedW: make([]float64, v)}
	for _, id := range prompt {
		s.observe(id)
	}
	return s
}

// observe records a token of the sequence for the repetition penalty.
func (s *sampler) observe(id int) {
	if !s.seen[id] {
		s.seen[id] = true
		s.seenIDs = append(s.seenIDs, id)
	}
}

// next picks the next token from logits and records it.
func (s *sampler) next(logits []float32) int {
	var id int
	if probs := s.distribution(logits); probs == nil {
		id = argmax(s.z)
	} else {
		id = s.draw(probs)
	}
	s.observe(id)
	return id
}

// distribution applies the repetition penalty to s.z and, when sampling,
// the temperature, top-k and top-p, leaving the candidate ids in s.order
// and returning their probabilities (nil when greedy). The candidates are
// sorted most likely first only when top-p needs it.
func (s *sampler) distribution(logits []float32) []float64 {
	o := s.o
	for i, x := range logits {
		s.z[i] = float64(x)
	}
	if p := o.RepetitionPenalty; p != 0 && p != 1 {
		for _, id := range s.seenIDs {
			if s.z[id] < 0 {
				s.z[id] *= p
			} else {
				s.z[id] /= p
			}
		}
	}
	if o.Greedy() {
		return nil
	}
	mx := math.Inf(-1)
	for i := range s.z {
		s.z[i] /= o.Temperature
		mx = math.Max(mx, s.z[i])
	}
	s.order = s.order[:0]
	if k := o.TopK; k > 0 && k < len(s.z) {
		kth := kthLargest(s.z, k, s.heap[:0])
		for i, x := range s.z {
			if x >= kth {
				s.order = append(s.order, i)
			}
		}
	} else {
		for i := range s.z {
			s.order = append(s.order, i)
		}
	}
	probs := s.probs[:len(s.order)]
	sum := 0.0
	for i, id := range s.order {
		probs[i] = math.Exp(s.z[id] - mx)
		sum += probs[i]
	}
	if p := o.TopP; p > 0 && p < 1 {
		probs = s.nucleus(probs, sum, mx, p)
		sum = 0
		for _, q := range probs {
			sum += q
		}
	}
	for i := range probs {
		probs[i] /= sum
	}
	return probs
}

// nucleus keeps the smallest set of most likely candidates whose
// probability reaches p (at least one). w are the candidates' unnormalised
// weights exp(z − mx) and sum their total. Only the candidates above a
// threshold that already holds mass p are sorted: the nucleus is a prefix
// of the sorted order, so it lies among them. The threshold starts at
// e^−8 of the maximum and widens until it holds enough.
func (s *sampler) nucleus(w []float64, sum, mx, p float64) []float64 {
	n := len(s.order)
	for delta := 8.0; ; delta *= 2 {
		k, mass := 0, 0.0
		for i, id := range s.order[:n] {
			if s.z[id] >= mx-delta {
				s.order[k], s.order[i] = s.order[i], s.order[k]
				w[k], w[i] = w[i], w[k]
				mass += w[k]
				k++
			}
		}
		if mass >= p*sum || k == n {
			n = k
			break
		}
	}
	order, w := s.order[:n], w[:n]
	idx := s.idx[:0]
	for i := range order {
		idx = append(idx, i)
	}
	slices.SortFunc(idx, func(a, b int) int {
		za, zb := s.z[order[a]], s.z[order[b]]
		switch {
		case za > zb:
			return -1
		case za < zb:
			return 1
		}
		return order[a] - order[b]
	})
	cum, keep := 0.0, 0
	for keep < len(idx) && (keep == 0 || cum < p*sum) {
		cum += w[idx[keep]]
		keep++
	}
	for i := 0; i < keep; i++ {
		s.sortedIDs[i], s.sortedW[i] = order[idx[i]], w[idx[i]]
	}
	copy(s.order, s.sortedIDs[:keep])
	copy(w, s.sortedW[:keep])
	s.order = s.order[:keep]
	return w[:keep]
}

// draw samples an index of s.order with the given probabilities.
func (s *sampler) draw(probs []float64) int {
	u := s.rng.Float64()
	for i, p := range probs {
		u -= p
		if u < 0 {
			return s.order[i]
		}
	}
	return s.order[len(probs)-1]
}

// argmax is the first index of the largest value, as torch.argmax.
func argmax(z []float64) int {
	best := 0
	for i, x := range z {
		if x > z[best] {
			best = i
		}
	}
	return best
}

// kthLargest returns the k-th largest value of z (1 ≤ k < len(z)) with a
// min-heap of the k largest seen so far; h is its storage.
func kthLargest(z []float64, k int, h []float64) float64 {
	down := func(i int) {
		for {
			l := 2*i + 1
			if l >= len(h) {
				return
			}
			if r := l + 1; r < len(h) && h[r] < h[l] {
				l = r
			}
			if h[i] <= h[l] {
				return
			}
			h[i], h[l] = h[l], h[i]
			i = l
		}
	}
	for _, x := range z {
		switch {
		case len(h) < k:
			h = append(h, x)
			for i := len(h) - 1; i > 0 && h[(i-1)/2] > h[i]; i = (i - 1) / 2 {
				h[i], h[(i-1)/2] = h[(i-1)/2], h[i]
			}
		case x > h[0]:
			h[0] = x
			down(0)
		}
	}
	return h[0]
}
