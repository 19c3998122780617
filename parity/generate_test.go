//go:build parity

package parity

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"qwentune/engine/generate"
)

// TestGenerate is check 2: 32 greedy tokens identical to transformers' generate(do_sample=False), for both shapes,
// without and with an adapter, each prompt run twice: with the model's eos (generation_config.json) and with an
// eos list that greedy decoding is sure to meet (a token the free run produced), so stopping is compared too.
// Every prompt is also decoded in one batch (GenerateBatch), which must give each row what it gives alone.
func TestGenerate(t *testing.T) {
	tok := loadTokenizer(t, modelDir("tied"))
	prompts := [][]int{
		tok.Encode("<|im_start|>user\nTell me about light.<|im_end|>\n<|im_start|>assistant\n"),
		tok.Encode("Once upon a time"),
		{151643},
	}
	const maxNew = 32
	for _, shape := range Shapes {
		t.Run(shape, func(t *testing.T) {
			type genCase struct {
				Name    string  `json:"name"`
				Model   string  `json:"model"`
				Adapter string  `json:"adapter,omitempty"`
				Prompts [][]int `json:"prompts"`
				MaxNew  int     `json:"max_new_tokens"`
				StopAt  int     `json:"stop_at"`
			}
			cases := []genCase{
				{"base", modelDir(shape), "", prompts, maxNew, 12},
				{"adapter", modelDir(shape), peftMadeAdapter(t, shape), prompts, maxNew, 20},
			}
			type run struct {
				EOS    []int `json:"eos"`
				Tokens []int `json:"tokens"`
			}
			var resp struct {
				Cases map[string][]struct{ Free, Stopped run } `json:"cases"`
			}
			pythonJSON(t, "generate.py", map[string]any{"cases": cases}, &resp)
			for _, c := range cases {
				m := loadModel(t, c.Model, c.Adapter)
				want := resp.Cases[c.Name]
				if len(want) != len(prompts) {
					t.Fatalf("%s: generate.py answered %d prompts, want %d", c.Name, len(want), len(prompts))
				}
				for _, which := range []string{"free", "stopped"} {
					var wants [][]int
					var stop []int
					for i, p := range prompts {
						r := want[i].Free
						if which == "stopped" {
							r = want[i].Stopped
						}
						stop, wants = r.EOS, append(wants, r.Tokens)
						o := generate.Options{MaxNewTokens: maxNew, StopIDs: r.EOS}
						got, err := generate.Generate(context.Background(), m, p, o, nil)
						if err != nil {
							t.Fatal(err)
						}
						label := fmt.Sprintf("%s, prompt %d, %s run (eos %v)", c.Name, i, which, r.EOS)
						if !slices.Equal(got, r.Tokens) {
							t.Errorf("%s: QwenTune generated %v, transformers %v", label, got, r.Tokens)
						}
						if which == "stopped" && (len(r.Tokens) == maxNew || !slices.Contains(r.EOS, r.Tokens[len(r.Tokens)-1])) {
							t.Errorf("%s: the reference did not stop on an eos (%v): the check would not test stopping", label, r.Tokens)
						}
					}
					// all prompts in one batch: the stop ids are each run's own, so batch only the runs sharing them
					if which == "free" {
						got, err := generate.GenerateBatch(context.Background(), m, prompts, generate.Options{MaxNewTokens: maxNew, StopIDs: stop}, nil)
						if err != nil {
							t.Fatal(err)
						}
						for i := range prompts {
							if !slices.Equal(got[i], wants[i]) {
								t.Errorf("%s, prompt %d, batched: QwenTune generated %v, transformers %v", c.Name, i, got[i], wants[i])
							}
						}
					}
				}
			}
		})
	}
}
