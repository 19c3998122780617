//go:build parity

package parity

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"qwentune/engine/nn"
	"qwentune/model/peft"
	"qwentune/model/tokenizer"
)

// The folders the checks share (adapters, exports), made once per run. The tests run one at a time and a
// fixture may use another, so there is no lock.
var fixtures = map[string]string{}

// fixture returns the folder make writes (into a fresh folder), made on first use under key.
func fixture(t testing.TB, key string, make func(dir string)) string {
	t.Helper()
	if dir, ok := fixtures[key]; ok {
		return dir
	}
	dir := filepath.Join(workDir, "fixtures", key)
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		t.Fatal(err)
	}
	make(dir)
	fixtures[key] = dir
	return dir
}

// peftMadeAdapter is get_peft_model with init_lora_weights=False (B drawn at random, so the adapter changes the
// logits untrained) on three projections.
func peftMadeAdapter(t testing.TB, shape string) string {
	return fixture(t, "peft-made-"+shape, func(dir string) {
		cfg := map[string]any{"r": 4, "lora_alpha": 8, "target_modules": []string{"q_proj", "v_proj", "down_proj"}, "seed": 1}
		p := dir + ".json"
		writeJSON(t, p, cfg)
		runPython(t, "peft_adapter.py", "make", modelDir(shape), dir, p)
	})
}

// peftTrainedAdapter is an adapter PEFT trained a few AdamW steps with every LoraConfig feature QwenTune reads:
// r, alpha, dropout, rsLoRA, all seven targets, rank_pattern and alpha_pattern.
func peftTrainedAdapter(t testing.TB, shape string) string {
	return fixture(t, "peft-trained-"+shape, func(dir string) {
		cfg := map[string]any{
			"r": 8, "lora_alpha": 16, "lora_dropout": 0.1, "use_rslora": true,
			"target_modules": []string{"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"},
			"rank_pattern":   map[string]int{"down_proj": 4, `layers\.1\.self_attn\.k_proj`: 2},
			"alpha_pattern":  map[string]float64{"o_proj": 32, `layers\.0\.mlp\.up_proj`: 5},
			"steps":          4, "lr": 1e-2, "seed": 2,
		}
		p := dir + ".json"
		writeJSON(t, p, cfg)
		runPython(t, "peft_adapter.py", "train", modelDir(shape), dir, p)
	})
}

// qwentuneAdapter is an adapter `qwentune train` trained a few steps on data/train.jsonl (rsLoRA, four targets,
// dropout on, a learning rate high enough to move B well away from 0).
func qwentuneAdapter(t testing.TB, shape string) string {
	return fixture(t, "qwentune-trained-"+shape, func(dir string) {
		cli(t, "train", "--config", "config.yml", "--set", "model.name="+modelDir(shape),
			"--set", "training.output_dir="+dir, "--set", "lora.r=8", "--set", "lora.alpha=16",
			"--set", "lora.use_rslora=true", "--set", "lora.target_modules=[q_proj,k_proj,o_proj,up_proj]",
			"--set", "training.max_steps=3", "--set", "training.learning_rate=0.01", "--set", "dataset.max_length=48",
			"--set", "training.save_steps=0", "--set", "logging.file=", "--no-preflight", "--json")
	})
}

// loadModel loads a model folder in float32 with the adapter folder (if any) active.
func loadModel(t testing.TB, dir, adapter string) *nn.Model {
	t.Helper()
	m, err := nn.Load(dir, nn.LoadOptions{DType: "float32"})
	if err != nil {
		t.Fatal(err)
	}
	if adapter != "" {
		pa, err := peft.Load(adapter)
		if err != nil {
			t.Fatal(err)
		}
		a, err := nn.AdapterFromPEFT(pa, m.Config)
		if err != nil {
			t.Fatal(err)
		}
		m.SetAdapter(a)
	}
	return m
}

func loadTokenizer(t testing.TB, dir string) *tokenizer.Tokenizer {
	t.Helper()
	tok, err := tokenizer.Load(filepath.Join(dir, "tokenizer.json"))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// batchRows are three rows of different lengths (padded on the right in a batch): two real texts, tokenized, and
// one of random ids over the whole vocabulary, padding rows beyond the tokenizer's last id included.
func batchRows(t testing.TB) [][]int {
	tok := loadTokenizer(t, modelDir("tied"))
	rng := rand.New(rand.NewPCG(15, 15))
	random := make([]int, 9)
	for i := range random {
		random[i] = rng.IntN(151936)
	}
	return [][]int{
		tok.Encode("<|im_start|>user\nHow do I reset my password? It's been 3 days.<|im_end|>\n"),
		random,
		tok.Encode("Grüße aus Köln 🚀: 12345 apples"),
	}
}
