package generate

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"qwentune/engine/nn"
	"qwentune/model"
)

func testModel(t *testing.T) *nn.Model {
	t.Helper()
	cfg := model.Shapes["tiny"]
	cfg.VocabSize, cfg.BOSTokenID, cfg.EOSTokenIDs = 64, 1, []int{1}
	cfg.InitializerRange = 0.5
	m, err := nn.New(cfg, "float32", 3)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestDistribution(t *testing.T) {
	ln := func(p ...float64) []float32 {
		z := make([]float32, len(p))
		for i, v := range p {
			z[i] = float32(math.Log(v))
		}
		return z
	}
	for _, tc := range []struct {
		name      string
		o         Options
		prompt    []int
		logits    []float32
		wantIDs   []int
		wantProbs []float64 // nil: greedy
		greedy    int
	}{
		{"greedy", Options{}, []int{4}, []float32{2, 1, 3, 0, -1}, nil, nil, 2},
		{"greedy repetition penalty", Options{RepetitionPenalty: 2}, []int{2, 4}, []float32{2, 1, 3, 0, -1}, nil, nil, 0},
		{"penalty multiplies negatives", Options{RepetitionPenalty: 2}, []int{0, 1, 2}, []float32{-1, -2, -0.5, -0.9, -3}, nil, nil, 3},
		{"top-k 1 is greedy", Options{Temperature: 1, TopK: 1}, []int{0}, []float32{2, 1, 3, 0, -1}, nil, nil, 2},
		{"temperature", Options{Temperature: 0.5}, []int{0}, []float32{0, float32(math.Log(2)), 0},
			[]int{1, 0, 2}, []float64{4.0 / 6, 1.0 / 6, 1.0 / 6}, 0},
		{"top-k keeps ties", Options{Temperature: 1, TopK: 2}, []int{0}, []float32{2, 1, 1, 0, -1},
			[]int{0, 1, 2}, []float64{math.E / (math.E + 2), 1 / (math.E + 2), 1 / (math.E + 2)}, 0},
		{"top-p", Options{Temperature: 1, TopP: 0.75}, []int{0}, ln(0.15, 0.5, 0.05, 0.3),
			[]int{1, 3}, []float64{0.625, 0.375}, 0},
		{"top-p keeps one", Options{Temperature: 1, TopP: 0.1}, []int{0}, ln(0.15, 0.5, 0.05, 0.3),
			[]int{1}, []float64{1}, 0},
		{"penalty then top-k then top-p", Options{Temperature: 1, TopK: 3, TopP: 0.6, RepetitionPenalty: 2}, []int{1},
			[]float32{1, 3, 0.5, -1}, []int{1, 0}, []float64{1 / (1 + math.Exp(-0.5)), math.Exp(-0.5) / (1 + math.Exp(-0.5))}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSampler(tc.o, len(tc.logits), tc.prompt, 0)
			probs := s.distribution(tc.logits)
			if tc.wantProbs == nil {
				if probs != nil {
					t.Fatalf("sampling, want greedy")
				}
				if id := s.next(tc.logits); id != tc.greedy {
					t.Fatalf("greedy picked %d, want %d", id, tc.greedy)
				}
				return
			}
			got := map[int]float64{}
			for i, id := range s.order {
				got[id] = probs[i]
			}
			if len(got) != len(tc.wantIDs) || len(probs) != len(s.order) {
				t.Fatalf("candidates %v with %v, want %v with %v", s.order, probs, tc.wantIDs, tc.wantProbs)
			}
			for i, id := range tc.wantIDs {
				if p, ok := got[id]; !ok || math.Abs(p-tc.wantProbs[i]) > 1e-6 {
					t.Fatalf("candidates %v with %v, want %v with %v", s.order, probs, tc.wantIDs, tc.wantProbs)
				}
			}
		})
	}
}

func TestDrawFrequencies(t *testing.T) {
	s := newSampler(Options{Temperature: 1, Seed: 9}, 3, []int{0}, 0)
	logits := []float32{0, float32(math.Log(2)), float32(math.Log(5))}
	counts := make([]int, 3)
	const n = 40000
	for range n {
		counts[s.next(logits)]++
	}
	for i, want := range []float64{0.125, 0.25, 0.625} {
		if f := float64(counts[i]) / n; math.Abs(f-want) > 0.01 {
			t.Fatalf("token %d drawn %.4f of the time, want %.4f", i, f, want)
		}
	}
}

func TestGreedyMatchesLogits(t *testing.T) {
	m := testModel(t)
	prompt := []int{5, 9, 2}
	got, err := Generate(context.Background(), m, prompt, Options{MaxNewTokens: 6}, nil)
	if err != nil {
		t.Fatal(err)
	}
	seq := slices.Clone(prompt)
	for range 6 {
		l := m.Logits(seq)
		last := l[len(l)-1]
		best := 0
		for i, v := range last {
			if v > last[best] {
				best = i
			}
		}
		seq = append(seq, best)
	}
	if !slices.Equal(got, seq[len(prompt):]) {
		t.Fatalf("generated %v, uncached greedy %v", got, seq[len(prompt):])
	}
	again, _ := Generate(context.Background(), m, prompt, Options{MaxNewTokens: 6}, nil)
	if !slices.Equal(got, again) {
		t.Fatalf("greedy not deterministic: %v then %v", got, again)
	}
}

func TestSeededSampling(t *testing.T) {
	m := testModel(t)
	o := Options{MaxNewTokens: 12, Temperature: 1.5, TopK: 40, TopP: 0.95, RepetitionPenalty: 1.1, Seed: 77}
	a, err := Generate(context.Background(), m, []int{3}, o, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Generate(context.Background(), m, []int{3}, o, nil)
	o.Seed = 78
	c, _ := Generate(context.Background(), m, []int{3}, o, nil)
	if !slices.Equal(a, b) {
		t.Fatalf("same seed: %v then %v", a, b)
	}
	if slices.Equal(a, c) {
		t.Fatalf("seeds 77 and 78 gave the same %v", a)
	}
	if len(a) != 12 {
		t.Fatalf("%d tokens, want 12", len(a))
	}
}

func TestStopIDs(t *testing.T) {
	m := testModel(t)
	full, err := Generate(context.Background(), m, []int{7}, Options{MaxNewTokens: 8}, nil)
	if err != nil {
		t.Fatal(err)
	}
	stop := full[3]
	first := slices.Index(full, stop)
	var streamed []int
	got, err := Generate(context.Background(), m, []int{7}, Options{MaxNewTokens: 8, StopIDs: []int{60, stop}},
		func(id int) error { streamed = append(streamed, id); return nil })
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, full[:first+1]) || !slices.Equal(streamed, got) {
		t.Fatalf("got %v, streamed %v, want %v", got, streamed, full[:first+1])
	}
}

func TestCancellation(t *testing.T) {
	m := testModel(t)
	ctx, cancel := context.WithCancel(context.Background())
	n := 0
	got, err := Generate(ctx, m, []int{7}, Options{MaxNewTokens: 50}, func(int) error {
		n++
		if n == 2 {
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) || len(got) != 2 {
		t.Fatalf("got %v, %v; want 2 tokens and context.Canceled", got, err)
	}
	stop := errors.New("enough")
	got, err = Generate(context.Background(), m, []int{7}, Options{MaxNewTokens: 50}, func(int) error { return stop })
	if !errors.Is(err, stop) || len(got) != 1 {
		t.Fatalf("got %v, %v; want 1 token and the callback's error", got, err)
	}
}

func TestBadInput(t *testing.T) {
	m := testModel(t)
	for _, tc := range []struct {
		prompt []int
		o      Options
	}{
		{nil, Options{MaxNewTokens: 1}},
		{[]int{64}, Options{MaxNewTokens: 1}},
		{[]int{-1}, Options{MaxNewTokens: 1}},
		{[]int{1}, Options{MaxNewTokens: -1}},
		{[]int{1}, Options{MaxNewTokens: 1, Temperature: -1}},
		{[]int{1}, Options{MaxNewTokens: 1, TopK: -1}},
		{[]int{1}, Options{MaxNewTokens: 1, TopP: math.NaN()}},
		{[]int{1}, Options{MaxNewTokens: 1, RepetitionPenalty: -2}},
	} {
		if _, err := Generate(context.Background(), m, tc.prompt, tc.o, nil); err == nil {
			t.Errorf("prompt %v options %+v: no error", tc.prompt, tc.o)
		}
	}
}

// TestTopPLargeVocab checks the thresholded nucleus against a full sort.
func TestTopPLargeVocab(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	for _, tc := range []struct {
		spread, p float64
		topK      int
	}{{3, 0.9, 0}, {0.01, 0.5, 0}, {20, 0.99, 0}, {1, 0.3, 100}, {0, 0.7, 0}} {
		const v = 5000
		logits := make([]float32, v)
		for i := range logits {
			logits[i] = float32(tc.spread * rng.NormFloat64())
		}
		s := newSampler(Options{Temperature: 1, TopP: tc.p, TopK: tc.topK}, v, []int{0}, 0)
		probs := s.distribution(logits)
		// reference: sort everything, apply top-k with ties, then top-p
		ids := make([]int, v)
		for i := range ids {
			ids[i] = i
		}
		slices.SortFunc(ids, func(a, b int) int {
			if logits[a] != logits[b] {
				if logits[a] > logits[b] {
					return -1
				}
				return 1
			}
			return a - b
		})
		if tc.topK > 0 {
			k := tc.topK
			for k < v && logits[ids[k]] == logits[ids[tc.topK-1]] {
				k++
			}
			ids = ids[:k]
		}
		w, sum := make([]float64, len(ids)), 0.0
		for i, id := range ids {
			w[i] = math.Exp(float64(logits[id]) - float64(logits[ids[0]]))
			sum += w[i]
		}
		cum, keep := 0.0, 0
		for keep < len(ids) && (keep == 0 || cum < tc.p*sum) {
			cum += w[keep]
			keep++
		}
		if !slices.Equal(s.order, ids[:keep]) {
			t.Fatalf("spread %v p %v: %d candidates, want %d", tc.spread, tc.p, len(s.order), keep)
		}
		for i := range probs {
			if math.Abs(probs[i]-w[i]/cum) > 1e-9 {
				t.Fatalf("spread %v p %v: probability %d is %v, want %v", tc.spread, tc.p, i, probs[i], w[i]/cum)
			}
		}
	}
}

func TestGenerateBatch(t *testing.T) {
	m := testModel(t)
	prompts := [][]int{{5, 9, 2}, {7}, {1, 2, 3, 4, 5, 6}}
	for _, o := range []Options{
		{MaxNewTokens: 7},
		{MaxNewTokens: 7, Temperature: 1.2, TopK: 30, TopP: 0.9, RepetitionPenalty: 1.2, Seed: 4},
	} {
		var streamed [3][]int
		got, err := GenerateBatch(context.Background(), m, prompts, o, func(row, id int) error {
			streamed[row] = append(streamed[row], id)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		for j, p := range prompts {
			if !slices.Equal(streamed[j], got[j]) || len(got[j]) != 7 {
				t.Fatalf("row %d: returned %v, streamed %v", j, got[j], streamed[j])
			}
			if j > 0 && o.Temperature > 0 {
				continue // other rows draw from their own streams
			}
			want, err := Generate(context.Background(), m, p, o, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got[j], want) {
				t.Fatalf("options %+v row %d: batched %v, alone %v", o, j, got[j], want)
			}
		}
	}
	// rows stop independently
	alone, _ := Generate(context.Background(), m, prompts[1], Options{MaxNewTokens: 7}, nil)
	got, err := GenerateBatch(context.Background(), m, prompts, Options{MaxNewTokens: 7, StopIDs: []int{alone[1]}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if first := slices.Index(alone, alone[1]); !slices.Equal(got[1], alone[:first+1]) {
		t.Fatalf("row 1 with stop id: %v, want %v", got[1], alone[:first+1])
	}
	if _, err := GenerateBatch(context.Background(), m, [][]int{{1}, {}}, Options{MaxNewTokens: 1}, nil); err == nil {
		t.Fatal("empty prompt in a batch accepted")
	}
}

// TestGenerateEach checks that every row of GenerateEach is exactly what
// Generate gives for that prompt and seed: greedy and sampled, rows that
// stop early, and more rows than one step takes (MaxBatch), so that the
// rows are decoded in several groups whose make-up changes as rows stop.
func TestGenerateEach(t *testing.T) {
	m := testModel(t)
	rng := rand.New(rand.NewPCG(3, 4))
	var prompts [][]int
	var seeds []int64
	for j := range MaxBatch + 3 {
		p := make([]int, 1+j%5)
		for i := range p {
			p[i] = rng.IntN(m.Config.VocabSize)
		}
		prompts, seeds = append(prompts, p), append(seeds, int64(100+7*j))
	}
	stop, _ := Generate(context.Background(), m, prompts[2], Options{MaxNewTokens: 3}, nil)
	for _, o := range []Options{
		{MaxNewTokens: 9},
		{MaxNewTokens: 9, Temperature: 1.3, TopK: 40, TopP: 0.95, RepetitionPenalty: 1.1},
		{MaxNewTokens: 9, Temperature: 0.7, StopIDs: []int{stop[2]}},
	} {
		got, err := GenerateEach(context.Background(), m, prompts, seeds, o, nil)
		if err != nil {
			t.Fatal(err)
		}
		for j, p := range prompts {
			oj := o
			oj.Seed = seeds[j]
			want, err := Generate(context.Background(), m, p, oj, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got[j], want) {
				t.Fatalf("options %+v row %d: together %v, alone %v", o, j, got[j], want)
			}
		}
	}
	if _, err := GenerateEach(context.Background(), m, prompts, seeds[:2], Options{MaxNewTokens: 1}, nil); err == nil {
		t.Fatal("fewer seeds than prompts accepted")
	}
}
