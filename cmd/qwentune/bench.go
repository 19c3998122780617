package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"qwentune/engine"
	"qwentune/engine/nn"
	"qwentune/engine/ops"
	"qwentune/engine/trainer"
)

func init() {
	register(&command{name: "bench", summary: "measure inference or training speed and memory against this machine's sgemm peak and memory bandwidth",
		usage: "infer --model DIR [--prompt-len N] [--gen N] [--dtype float32|bfloat16|q8_0] [--compute-dtype float32|bfloat16|auto] | train --model DIR [--seq N] [--steps N] [--r R] [--targets q_proj,v_proj] [--dtype ...]",
		example: `qwentune make-model --shape qwen2-1.5b --out /tmp/q15 --tokenizer ./some-qwen2-folder
qwentune bench infer --model /tmp/q15 --prompt-len 64 --gen 32
qwentune bench infer --model /tmp/q15 --dtype bfloat16
qwentune bench infer --model /tmp/q15 --dtype q8_0
qwentune bench train --model /tmp/q7 --dtype q8_0 --seq 512 --r 16 --targets all-linear --recompute --steps 2
qwentune bench train --model /tmp/q15 --seq 256 --steps 5
qwentune bench train --model /tmp/q15 --kernel env     # keep OPENBLAS_CORETYPE as set
qwentune bench train --model /tmp/q15 --compute-dtype bfloat16 --amx off   # VDPBF16PS where AMX would run`,
		run: runBench})
}

func runBench(ctx context.Context, fs *flag.FlagSet, args []string) error {
	if len(args) == 0 || (args[0] != "infer" && args[0] != "train") {
		return usagef("want: qwentune bench infer|train [flags]")
	}
	mode := args[0]
	modelDir := fs.String("model", "", "model folder (or Hub id, or demo)")
	dtype := fs.String("dtype", "float32", "weight storage: float32, bfloat16 or q8_0 (GGUF's 8-bit blocks, quantised at load)")
	computeDtype := fs.String("compute-dtype", "float32", "arithmetic of the weight products: float32, bfloat16 or auto")
	promptLen := fs.Int("prompt-len", 64, "infer: prompt tokens")
	gen := fs.Int("gen", 32, "infer: generated tokens")
	seq := fs.Int("seq", 256, "train: tokens per sequence (one sequence per step)")
	steps := fs.Int("steps", 5, "train: measured optimizer steps (after one warm-up step)")
	r := fs.Int("r", 64, "train: LoRA rank")
	targets := fs.String("targets", "q_proj,v_proj", "train: LoRA target modules")
	recompute := fs.Bool("recompute", false, "train: recompute activations in the backward pass")
	amx := fs.String("amx", "on", "bfloat16 products on AMX tiles where the CPU has them (on), or on VDPBF16PS (off); also QWENTUNE_AMX=off")
	kernel := fs.String("kernel", "native", "native: run with OPENBLAS_CORETYPE unset (OpenBLAS picks this CPU's kernel, or QwenTune picks it where OpenBLAS falls back to Prescott); env: keep the variable as set")
	asJSON := fs.Bool("json", false, "print the figures as one JSON object")
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	if *modelDir == "" {
		return usagef("--model is required")
	}
	if *kernel == "native" && os.Getenv("OPENBLAS_CORETYPE") != "" {
		// OpenBLAS reads the variable when it loads, so the process must start without it.
		exe, err := os.Executable()
		if err != nil {
			return err
		}
		var env []string
		for _, e := range os.Environ() {
			if !strings.HasPrefix(e, "OPENBLAS_CORETYPE=") {
				env = append(env, e)
			}
		}
		return reexec(exe, append([]string{exe, "bench"}, args...), env)
	}
	switch *amx {
	case "on":
	case "off":
		ops.SetAMX(false)
	default:
		return usagef("--amx: want on or off, not %q", *amx)
	}
	if *kernel != "native" && *kernel != "env" {
		return usagef("--kernel %q: want native or env", *kernel)
	}
	if *dtype != "float32" && *dtype != "bfloat16" && *dtype != "q8_0" {
		return usagef("--dtype %q: want float32, bfloat16 or q8_0", *dtype)
	}
	s, err := engine.Open(ctx, *modelDir, "main", *dtype, nil)
	if err != nil {
		return err
	}
	compute, err := s.SetComputeDtype(*computeDtype)
	if err != nil {
		return usagef("--compute-dtype: %v", err)
	}
	res := map[string]any{"mode": mode, "model": *modelDir, "dtype": *dtype, "compute_dtype": compute, "backend": ops.Backend(), "kernel": ops.CoreName(),
		"openblas_coretype_env": os.Getenv("OPENBLAS_CORETYPE"), "threads": runtime.GOMAXPROCS(0),
		"params": s.Model.NumParams(), "weight_bytes": s.Model.WeightBytes()}
	rng := rand.New(rand.NewPCG(1, 2))
	randomIDs := func(n int) []int {
		ids := make([]int, n)
		for i := range ids {
			ids[i] = rng.IntN(min(s.Config.VocabSize, s.Tokenizer.VocabSize()))
		}
		return ids
	}
	c := s.Config
	fwdFlops := s.ForwardFLOPs()
	switch mode {
	case "infer":
		cache := s.Model.NewCache(*promptLen + *gen + 1)
		prompt := randomIDs(*promptLen)
		// The prefill figure is the fastest of three, as the sgemm peak it
		// is compared with is the fastest of its runs: a single 64-token
		// prefill (well under a second) is at the mercy of a busy host.
		var logits []float32
		prefill := time.Duration(math.MaxInt64)
		prefillCPU := math.Inf(1)
		for range 3 {
			cache.Reset()
			t0, c0 := time.Now(), ops.CPUSeconds()
			logits = s.Model.Step(cache, prompt)
			prefill = min(prefill, time.Since(t0))
			prefillCPU = min(prefillCPU, ops.CPUSeconds()-c0)
		}
		next := slices.Index(logits, slices.Max(logits))
		// Between decoding steps (outside their timing) the weights they
		// multiply by are read once more with nothing else to do: the
		// memory-bandwidth bound of a step, on the same pages, measured in
		// alternation with the steps so that a busy host slows both alike.
		ws := s.Model.DecodeWeights()
		var decodeBytes int64
		for _, w := range ws {
			decodeBytes += w.Bytes()
		}
		var decode, read time.Duration
		for i := 0; i < *gen; i++ {
			t1 := time.Now()
			logits = s.Model.Step(cache, []int{next})
			next = slices.Index(logits, slices.Max(logits))
			decode += time.Since(t1)
			t1 = time.Now()
			ops.StreamWeights(ws)
			read += time.Since(t1)
		}
		// Prefill runs the head for the last position only.
		headFlops := 2 * float64(c.VocabSize*c.HiddenSize)
		prefillFlops := (fwdFlops-headFlops)*float64(*promptLen) + headFlops
		res["prefill_tokens_per_s"] = float64(*promptLen) / prefill.Seconds()
		res["prefill_gflops"] = prefillFlops / prefill.Seconds() / 1e9
		res["prefill_cpu_seconds"] = prefillCPU
		res["decode_tokens_per_s"] = float64(*gen) / decode.Seconds()
		res["decode_bytes_per_s"] = float64(decodeBytes) * float64(*gen) / decode.Seconds()
		res["weight_read_bytes_per_s"] = float64(decodeBytes) * float64(*gen) / read.Seconds()
		res["decode_vs_weight_read"] = read.Seconds() / decode.Seconds()
	case "train":
		lc := nn.LoRAConfig{R: *r, Alpha: 16, Dropout: 0.05, TargetModules: strings.Split(*targets, ",")}
		a, err := s.Model.NewAdapter(lc, 42)
		if err != nil {
			return err
		}
		s.Model.SetAdapter(a)
		s.Model.TrainOptions.Recompute = *recompute
		ids := randomIDs(*seq)
		b := nn.Batch{IDs: [][]int{ids}, Labels: [][]int{ids}, Mask: [][]bool{slices.Repeat([]bool{true}, *seq)}}
		var times, cpu []float64
		for i := 0; i <= *steps; i++ {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			t0, c0 := time.Now(), ops.CPUSeconds()
			if _, _, err := s.Model.ForwardBackward(b, 1/float32(*seq-1), uint64(i)); err != nil {
				return err
			}
			if i > 0 { // the first step allocates the workspace
				times = append(times, time.Since(t0).Seconds())
				cpu = append(cpu, ops.CPUSeconds()-c0)
			}
		}
		slices.Sort(times)
		slices.Sort(cpu)
		med := times[len(times)/2]
		// The CPU time of a step (all threads) is what a busy shared host
		// distorts least: the ratio of two runs' CPU seconds compares the
		// work each did, where wall time also counts the waiting.
		res["step_cpu_seconds_median"] = cpu[len(cpu)/2]
		flopsPerToken := 2 * fwdFlops // forward + input gradients; the frozen base has no weight gradients
		res["trainable_params"] = a.NumParams()
		// The pre-flight's estimate of this step, less the AdamW moments
		// (8 bytes a trainable value) the bench does not allocate: compare
		// it with peak_rss_bytes.
		wb, ab := s.Model.Estimate(*seq, lc)
		res["estimate_bytes"] = wb + ab - 8*a.NumParams()
		res["step_seconds_median"] = med
		res["train_tokens_per_s"] = float64(*seq) / med
		res["model_gflops"] = flopsPerToken * float64(*seq) / med / 1e9
		res["flops_per_token"] = flopsPerToken
	}
	res["peak_rss_bytes"] = trainer.PeakRSS()
	sgemm := ops.MeasureSgemmGFLOPS(2048, 2*time.Second)
	bw := ops.MeasureBandwidth(2 * time.Second)
	res["sgemm_gflops"] = sgemm
	res["bandwidth_bytes_per_s"] = bw
	if g, ok := res["prefill_gflops"].(float64); ok {
		res["prefill_vs_sgemm"] = g / sgemm
		res["decode_vs_bandwidth"] = res["decode_bytes_per_s"].(float64) / bw
	}
	if g, ok := res["model_gflops"].(float64); ok {
		res["mfu_vs_sgemm"] = g / sgemm
	}
	if peak := ops.MeasureBF16PeakGFLOPS(time.Second); peak > 0 {
		res["bf16_peak_gflops"] = peak
		if g, ok := res["model_gflops"].(float64); ok {
			res["mfu_vs_bf16_peak"] = g / peak
		}
		if g, ok := res["prefill_gflops"].(float64); ok {
			res["prefill_vs_bf16_peak"] = g / peak
		}
	}
	// With AMX the bfloat16 products run on the tile unit, whose peak is
	// several times VDPBF16PS's: both are measured, and the utilisation is
	// also given against the one the products use.
	res["bf16_products"] = ops.BF16Products()
	if peak := ops.MeasureAMXPeakGFLOPS(time.Second); peak > 0 {
		res["amx_peak_gflops"] = peak
		if g, ok := res["model_gflops"].(float64); ok {
			res["mfu_vs_amx_peak"] = g / peak
		}
		if g, ok := res["prefill_gflops"].(float64); ok {
			res["prefill_vs_amx_peak"] = g / peak
		}
	}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(res)
	}
	keys := make([]string, 0, len(res))
	for k := range res {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		v := res[k]
		if f, ok := v.(float64); ok {
			v = strconv.FormatFloat(f, 'g', 4, 64)
		}
		fmt.Fprintf(stdout, "%-24s %v\n", k, v)
	}
	return nil
}
