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
	if len(prompt) == 0 {
		return nil, fmt.Errorf("generate: empty prompt")
	}
	v := m.Config.VocabSize
	for i, id := range prompt {
		if id < 0 || id >= v {
			return nil, fmt.Errorf("generate: prompt position %d: token id %d outside [0, %d)", i, id, v)
		}
	}
	if o.MaxNewTokens == 0 {
		return nil, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c := m.NewCache(len(prompt) + o.MaxNewTokens)
	s := newSampler(o, v, prompt)
	logits := m.Step(c, prompt)
	var out []int
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
		logits = m.Step(c, []int{id})
	}
}

// sampler turns logits into tokens; it owns all per-step buffers.
type sampler struct {
	o       Options
	rng     *rand.Rand
	seen    []bool    // [V] token occurs in the sequence
	seenIDs []int     // distinct ids in the sequence
	z       []float64 // [V] working scores
	order   []int     // candidate ids, most likely first
	probs   []float64 // their probabilities
	heap    []float64 // top-k selection
}

func newSampler(o Options, v int, prompt []int) *sampler {
	s := &sampler{o: o, rng: rand.New(rand.NewPCG(uint64(o.Seed), 0x5eed5eed)), seen: make([]bool, v), z: make([]float64, v), order: make([]int, 0, v), probs: make([]float64, v), heap: make([]float64, 0, max(o.TopK, 0))}
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
// the temperature, top-k and top-p, returning the candidates in s.order
// with their probabilities (nil when greedy).
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
	for i := range s.z {
		s.z[i] /= o.Temperature
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
	slices.SortFunc(s.order, func(a, b int) int {
		switch {
		case s.z[a] > s.z[b]:
			return -1
		case s.z[a] < s.z[b]:
			return 1
		}
		return a - b
	})
	probs := s.probs[:len(s.order)]
	mx, sum := s.z[s.order[0]], 0.0
	for i, id := range s.order {
		probs[i] = math.Exp(s.z[id] - mx)
		sum += probs[i]
	}
	for i := range probs {
		probs[i] /= sum
	}
	if p := o.TopP; p > 0 && p < 1 {
		cum, n := 0.0, 0
		for n < len(probs) && (n == 0 || cum < p) {
			cum += probs[n]
			n++
		}
		s.order, probs = s.order[:n], probs[:n]
		for i := range probs {
			probs[i] /= cum
		}
	}
	return probs
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
