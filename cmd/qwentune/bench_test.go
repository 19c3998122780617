package main

import (
	"bytes"
	"encoding/json"
	"testing"
)

// bench train --dtype q8_0 runs on Q8_0 weights and reports the
// pre-flight's estimate of its step next to the peak RSS.
func TestBenchTrainQ8(t *testing.T) {
	var out, errOut bytes.Buffer
	args := []string{"bench", "train", "--model", "demo", "--dtype", "q8_0", "--steps", "1", "--seq", "32", "--r", "4", "--targets", "all-linear", "--json"}
	if code := run(args, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	var res struct {
		DType       string  `json:"dtype"`
		Params      int64   `json:"params"`
		WeightBytes int64   `json:"weight_bytes"`
		Estimate    int64   `json:"estimate_bytes"`
		PeakRSS     int64   `json:"peak_rss_bytes"`
		TokensPerS  float64 `json:"train_tokens_per_s"`
	}
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("%v: %s", err, out.String())
	}
	// The demo model's matrices are whole Q8_0 blocks: about 34/32 bytes
	// a weight (the norms and biases in float32 add a little).
	if res.DType != "q8_0" || res.WeightBytes < res.Params*34/32 || res.WeightBytes > res.Params*36/32 {
		t.Fatalf("dtype %s, %d weight bytes for %d parameters", res.DType, res.WeightBytes, res.Params)
	}
	if res.Estimate <= res.WeightBytes || res.TokensPerS <= 0 || res.PeakRSS > 0 && res.PeakRSS < res.WeightBytes {
		t.Fatalf("%+v", res)
	}
}
