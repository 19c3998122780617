package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"

	"qwentune/engine/config"
	"qwentune/engine/generate"
	"qwentune/engine/nn"
	"qwentune/model/tokenizer"
	"qwentune/plugins/evaluators"
)

// JudgePlugin is the evaluator that reads the evaluation.judge_* settings.
const JudgePlugin = "judge"

// JudgeSettings are the judge plugin's settings from config.yml (only
// those set: empty and 0 keep the plugin's defaults), overridden by
// explicit ones (the CLI's --setting).
func JudgeSettings(ev config.EvaluationConfig, explicit map[string]string) map[string]string {
	out := map[string]string{}
	if ev.JudgePrompt != "" {
		out["prompt"] = ev.JudgePrompt
	}
	if ev.JudgeLabels != "" {
		out["labels"] = ev.JudgeLabels
	}
	if ev.JudgeMaxNewTokens > 0 {
		out["max_new_tokens"] = strconv.Itoa(ev.JudgeMaxNewTokens)
	}
	for k, v := range explicit {
		out[k] = v
	}
	return out
}

// modelGenerator is the evaluators.Generator an evaluation offers its
// plugin (served by the host over go-plugin's broker): it generates with
// evaluation.judge_model — the session's base model, the adapter being
// evaluated, or another model opened on first use and kept for the whole
// evaluation (base and fine-tuned phases alike). Plugins that never
// generate cost nothing.
type modelGenerator struct {
	base    *Session
	adapter *nn.Adapter // the fine-tune being evaluated, nil for the base model
	cfg     config.Config

	once sync.Once
	sess *Session
	a    *nn.Adapter
	err  error

	mu   sync.Mutex
	seed int64 // the seed of the next sampled answer
}

func newModelGenerator(base *Session, adapter *nn.Adapter, cfg config.Config) *modelGenerator {
	seed := int64(cfg.Chat.Seed)
	if seed < 0 {
		seed = int64(cfg.Training.Seed)
	}
	return &modelGenerator{base: base, adapter: adapter, cfg: cfg, seed: seed}
}

// model returns the judge's session and adapter, opening a model folder
// the first time.
func (g *modelGenerator) model(ctx context.Context) (*Session, *nn.Adapter, error) {
	g.once.Do(func() {
		switch name := g.cfg.Evaluation.JudgeModel; name {
		case config.JudgeBase, "":
			g.sess = g.base
		case config.JudgeFineTune:
			if g.adapter == nil {
				g.err = errors.New("evaluation.judge_model is finetune, but this evaluation has no adapter (the base model is evaluated); use base or a model folder")
				return
			}
			g.sess, g.a = g.base, g.adapter
		default:
			if st, err := os.Stat(name); name != DemoName && !strings.Contains(name, "/") && (err != nil || !st.IsDir()) {
				// Not a folder nor a Hub id (owner/name): most likely a typo.
				g.err = fmt.Errorf("evaluation.judge_model %q: want %s, %s, demo or a model folder", name, config.JudgeBase, config.JudgeFineTune)
				return
			}
			g.sess, g.err = Open(ctx, name, g.cfg.Model.Revision, g.cfg.Model.Dtype, nil)
			if g.err != nil {
				g.err = fmt.Errorf("evaluation.judge_model %s: %w", name, g.err)
			}
		}
	})
	return g.sess, g.a, g.err
}

// Generate answers one request: messages through the judge model's chat
// template (stopping at its end of turn), or a raw prompt (stopping at
// eos). max_new_tokens 0 takes evaluation.max_new_tokens, and is cut to
// what the model's context leaves; sampling is plain temperature sampling
// (no top-k, top-p or repetition penalty) with a new seed per request.
// Generation stops as soon as a stop string appears; the text ends before
// it.
func (g *modelGenerator) Generate(ctx context.Context, req evaluators.GenerateRequest) (evaluators.GenerateResponse, error) {
	s, a, err := g.model(ctx)
	if err != nil {
		return evaluators.GenerateResponse{}, err
	}
	var prompt []int
	chat := len(req.Messages) > 0
	if chat {
		msgs := make([]tokenizer.Message, len(req.Messages))
		for i, m := range req.Messages {
			msgs[i] = tokenizer.Message{Role: m.Role, Content: m.Content}
		}
		if prompt, err = s.ChatPrompt("", msgs); err != nil {
			return evaluators.GenerateResponse{}, err
		}
	} else {
		prompt = s.Tokenizer.Encode(req.Prompt)
	}
	o := generate.Options{MaxNewTokens: req.MaxNewTokens, Temperature: req.Temperature, StopIDs: s.StopIDs(chat)}
	if o.MaxNewTokens <= 0 {
		o.MaxNewTokens = g.cfg.Evaluation.MaxNewTokens
	}
	room := s.Config.MaxPositionEmbeddings - len(prompt)
	if room < 1 {
		return evaluators.GenerateResponse{}, fmt.Errorf("the judge prompt of %d tokens leaves no room in the model's context of %d",
			len(prompt), s.Config.MaxPositionEmbeddings)
	}
	o.MaxNewTokens = min(o.MaxNewTokens, room)
	if err := o.Validate(); err != nil {
		return evaluators.GenerateResponse{}, err
	}
	g.mu.Lock()
	g.seed++
	o.Seed = g.seed
	g.mu.Unlock()

	gctx, stop := context.WithCancel(ctx)
	defer stop()
	var text strings.Builder
	c, err := s.Generate(gctx, a, prompt, o, func(piece string) {
		text.WriteString(piece)
		if stopAt(text.String(), req.Stop) >= 0 {
			stop()
		}
	})
	if err != nil {
		return evaluators.GenerateResponse{}, err
	}
	if err := ctx.Err(); err != nil {
		return evaluators.GenerateResponse{}, err
	}
	out := evaluators.GenerateResponse{Text: c.Text, FinishReason: c.Stopped}
	if i := stopAt(c.Text, req.Stop); i >= 0 {
		out.Text, out.FinishReason = c.Text[:i], "stop"
	}
	return out, nil
}

// stopAt is the index of the earliest stop string in text, or -1.
func stopAt(text string, stops []string) int {
	at := -1
	for _, s := range stops {
		if s == "" {
			continue
		}
		if i := strings.Index(text, s); i >= 0 && (at < 0 || i < at) {
			at = i
		}
	}
	return at
}
