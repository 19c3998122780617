package nn

import (
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	"qwentune/engine/ops"
	"qwentune/model"
)

// The benchmarks run on a mid-size random model built in memory (hidden
// 512, 4 layers, vocab 8192). NN_BENCH_SHAPE names a model.Shapes entry
// instead (e.g. qwen2-1.5b) and NN_BENCH_LAYERS cuts its depth, NN_BENCH_DTYPE picks bfloat16 or q8_0, NN_BENCH_SEQ the
// training/prefill length (default 256), NN_BENCH_COMPUTE=bfloat16 the bfloat16 products, and NN_BENCH_RECOMPUTE=1 turns on
// activation recomputation.

func benchModel(b *testing.B) *Model {
	b.Helper()
	cfg := model.Shapes["tiny"]
	cfg.VocabSize, cfg.HiddenSize, cfg.IntermediateSize = 8192, 512, 1408
	cfg.NumHiddenLayers, cfg.NumAttentionHeads, cfg.NumKeyValueHeads, cfg.HeadDim = 4, 8, 2, 64
	if s := os.Getenv("NN_BENCH_SHAPE"); s != "" {
		var ok bool
		if cfg, ok = model.Shapes[s]; !ok {
			b.Fatalf("NN_BENCH_SHAPE %q is not in model.Shapes", s)
		}
	}
	if n, err := strconv.Atoi(os.Getenv("NN_BENCH_LAYERS")); err == nil && n > 0 {
		cfg.NumHiddenLayers = n
	}
	dtype := "float32"
	if d := os.Getenv("NN_BENCH_DTYPE"); d == "bfloat16" || d == "q8_0" {
		dtype = d
	}
	m, err := New(cfg, dtype, 1)
	if err != nil {
		b.Fatal(err)
	}
	m.TrainOptions.Recompute = os.Getenv("NN_BENCH_RECOMPUTE") == "1"
	if os.Getenv("NN_BENCH_COMPUTE") == "bfloat16" {
		if err := m.SetComputeBF16(true); err != nil {
			b.Fatal(err)
		}
	}
	return m
}

func benchSeq() int {
	if n, err := strconv.Atoi(os.Getenv("NN_BENCH_SEQ")); err == nil && n > 0 {
		return n
	}
	return 256
}

// matmulParams counts the weights a token multiplies by: every projection
// and the LM head (the embedding lookup is free).
func (m *Model) matmulParams() float64 {
	d := m.d
	per := 2*d.H*d.Q + 2*d.H*d.KV + 3*d.H*d.I
	return float64(d.nLayers*per + d.V*d.H)
}

// BenchmarkDecode times one-token steps and, between them (timer stopped),
// one read of every weight the step multiplies by (ops.StreamWeights):
// vs_weight_read is the step's speed as a fraction of that memory bound,
// the two measured in alternation so that a busy host slows both alike.
func BenchmarkDecode(b *testing.B) {
	m := benchModel(b)
	c := m.NewCache(512)
	rng := rand.New(rand.NewPCG(1, 1))
	m.Step(c, randomIDs(rng, 16, m.d.V))
	ws := m.DecodeWeights()
	var read time.Duration
	b.ResetTimer()
	for range b.N {
		if c.Len() == c.MaxLen() {
			c.Reset()
			m.Step(c, []int{1})
		}
		m.Step(c, []int{rng.IntN(m.d.V)})
		b.StopTimer()
		t0 := time.Now()
		ops.StreamWeights(ws)
		read += time.Since(t0)
		b.StartTimer()
	}
	s := b.Elapsed().Seconds()
	b.ReportMetric(float64(b.N)/s, "tokens/s")
	b.ReportMetric(2*m.matmulParams()*float64(b.N)/s/1e9, "GFLOPS")
	b.ReportMetric(read.Seconds()/s, "vs_weight_read")
}

func BenchmarkPrefill(b *testing.B) {
	m := benchModel(b)
	n := benchSeq()
	c := m.NewCache(n)
	ids := randomIDs(rand.New(rand.NewPCG(2, 2)), n, m.d.V)
	b.ResetTimer()
	for range b.N {
		c.Reset()
		m.Step(c, ids)
	}
	s := b.Elapsed().Seconds()
	b.ReportMetric(float64(b.N*n)/s, "tokens/s")
	b.ReportMetric(2*(m.matmulParams()-float64(m.d.V*m.d.H))*float64(b.N*n)/s/1e9, "GFLOPS")
}

// BenchmarkTrainStep is one ForwardBackward of a single sequence with LoRA
// r=64 on q_proj and v_proj. GFLOPS counts model FLOPs: 4 per weight and
// token (forward and input gradient), the LoRA and attention work excluded.
func BenchmarkTrainStep(b *testing.B) {
	m := benchModel(b)
	a, err := m.NewAdapter(LoRAConfig{R: 64, Alpha: 16, Dropout: 0.05, TargetModules: []string{"q_proj", "v_proj"}}, 1)
	if err != nil {
		b.Fatal(err)
	}
	m.SetAdapter(a)
	n := benchSeq()
	ids := randomIDs(rand.New(rand.NewPCG(3, 3)), n, m.d.V)
	batch := Batch{IDs: [][]int{ids}, Labels: [][]int{ids}}
	if _, _, err := m.ForwardBackward(batch, 1, 0); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := range b.N {
		if _, _, err := m.ForwardBackward(batch, 1, uint64(i)); err != nil {
			b.Fatal(err)
		}
	}
	s := b.Elapsed().Seconds()
	b.ReportMetric(float64(b.N*n)/s, "tokens/s")
	gflops := 4 * m.matmulParams() * float64(b.N*n) / s / 1e9
	b.ReportMetric(gflops, "GFLOPS")
	b.ReportMetric(100*gflops/ops.MeasureSgemmGFLOPS(1024, time.Second), "%sgemm")
	b.ReportMetric(float64(m.ActivationBytes())/(1<<20), "act-MiB")
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b.ReportMetric(float64(ms.Sys)/(1<<30), "sys-GiB")
	b.Logf("backend %s, weights %.2f GiB", ops.Backend(), float64(m.WeightBytes())/(1<<30))
}

// BenchmarkDecodeBatch8 decodes one token for each of 8 sequences per
// iteration with StepBatch; tokens/s counts all rows.
func BenchmarkDecodeBatch8(b *testing.B) {
	m := benchModel(b)
	const rows = 8
	rng := rand.New(rand.NewPCG(4, 4))
	cs := make([]*Cache, rows)
	for j := range cs {
		cs[j] = m.NewCache(512)
		m.Step(cs[j], randomIDs(rng, 16+j, m.d.V))
	}
	ids := make([]int, rows)
	b.ResetTimer()
	for range b.N {
		if cs[rows-1].Len() == cs[rows-1].MaxLen() {
			for _, c := range cs {
				c.Reset()
				m.Step(c, []int{1})
			}
		}
		for j := range ids {
			ids[j] = rng.IntN(m.d.V)
		}
		m.StepBatch(cs, ids)
	}
	s := b.Elapsed().Seconds()
	b.ReportMetric(float64(rows*b.N)/s, "tokens/s")
	b.ReportMetric(2*m.matmulParams()*float64(rows*b.N)/s/1e9, "GFLOPS")
}
