package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"qwentune/engine/config"
	"qwentune/engine/generate"
	"qwentune/engine/nn"
	"qwentune/model/tokenizer"
)

// ChatSampling is the chat section of config.yml as the decoding options
// generation takes: the one conversion between the two. StopIDs are left
// to the caller (Chat and Evaluate stop at the chat template's end too).
func ChatSampling(c config.ChatConfig) generate.Options {
	return generate.Options{MaxNewTokens: c.MaxNewTokens, Temperature: c.Temperature, TopP: c.TopP, TopK: c.TopK,
		RepetitionPenalty: c.RepetitionPenalty, Seed: int64(c.Seed)}
}

// Completion is the result of one generation.
type Completion struct {
	PromptIDs []int
	IDs       []int  // generated ids, without the stop token
	Text      string // decoded generated text, special tokens left out
	Stopped   string // "eos", "length" or "cancelled"
}

// Generate continues the token ids prompt with adapter a (nil for the base
// model) as o says, stopping at o.StopIDs, calling onText with each newly
// decodable piece of text.
func (s *Session) Generate(ctx context.Context, a *nn.Adapter, prompt []int, o generate.Options, onText func(string)) (Completion, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.checkPrompt(prompt, o); err != nil {
		return Completion{}, err
	}
	s.Model.SetAdapter(a)
	defer s.Model.SetAdapter(nil)
	stop := o.StopIDs
	dec := s.Tokenizer.NewStreamDecoder()
	ids, err := generate.Generate(ctx, s.Model, prompt, o, func(id int) error {
		if onText != nil && !slices.Contains(stop, id) && !s.Tokenizer.IsSpecial(id) {
			if piece := dec.Add(id); piece != "" {
				onText(piece)
			}
		}
		return nil
	})
	c, err := s.completion(prompt, ids, stop, err)
	if err == nil && onText != nil {
		if rest := dec.Flush(); rest != "" {
			onText(rest)
		}
	}
	return c, err
}

// GenerateEach continues every prompt with adapter a, prompt j with seed
// seeds[j] (o.Seed is not used). Completion j is exactly what Generate
// gives for prompt j with that seed, but the prompts are decoded together
// (generate.GenerateEach), which reads the weights once per step for up to
// generate.MaxBatch of them. done, when not nil, is called with each
// completion as soon as its row stops. On cancellation it returns ctx's
// error and no completions.
func (s *Session) GenerateEach(ctx context.Context, a *nn.Adapter, prompts [][]int, seeds []int64, o generate.Options, done func(j int, c Completion)) ([]Completion, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range prompts {
		if err := s.checkPrompt(p, o); err != nil {
			return nil, err
		}
	}
	s.Model.SetAdapter(a)
	defer s.Model.SetAdapter(nil)
	stop := o.StopIDs
	ids := make([][]int, len(prompts))
	out := make([]Completion, len(prompts))
	_, err := generate.GenerateEach(ctx, s.Model, prompts, seeds, o, func(j, id int) error {
		ids[j] = append(ids[j], id)
		if slices.Contains(stop, id) || len(ids[j]) == o.MaxNewTokens {
			out[j], _ = s.completion(prompts[j], ids[j], stop, nil)
			if done != nil {
				done(j, out[j])
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for j := range out {
		if out[j].PromptIDs == nil { // max_new_tokens 0
			out[j], _ = s.completion(prompts[j], nil, stop, nil)
		}
	}
	return out, nil
}

// checkPrompt refuses ids outside the vocabulary and a prompt that, with
// o.MaxNewTokens more tokens, exceeds the model's context.
func (s *Session) checkPrompt(prompt []int, o generate.Options) error {
	for _, id := range prompt {
		if id < 0 || id >= s.Config.VocabSize {
			return fmt.Errorf("token id %d is outside the model's vocabulary (0..%d)", id, s.Config.VocabSize-1)
		}
	}
	if len(prompt)+o.MaxNewTokens > s.Config.MaxPositionEmbeddings {
		return fmt.Errorf("prompt of %d tokens plus %d new tokens exceeds the model's context of %d",
			len(prompt), o.MaxNewTokens, s.Config.MaxPositionEmbeddings)
	}
	return nil
}

// completion makes the Completion of prompt from the generated ids and
// generation's error: the stop token is left out and a cancellation is
// reported in Stopped rather than as an error.
func (s *Session) completion(prompt, ids, stop []int, err error) (Completion, error) {
	c := Completion{PromptIDs: prompt, Stopped: "length"}
	if len(ids) > 0 && slices.Contains(stop, ids[len(ids)-1]) {
		ids = ids[:len(ids)-1]
		c.Stopped = "eos"
	}
	if err != nil {
		if !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
			return c, err
		}
		c.Stopped = "cancelled"
	}
	c.IDs = ids
	c.Text = s.Tokenizer.Decode(ids, true)
	return c, nil
}

// ChatPrompt renders a conversation with the model's chat template and the
// generation prompt, and tokenizes it. A non-empty system prompt is put
// first unless the conversation already starts with one.
func (s *Session) ChatPrompt(system string, history []tokenizer.Message) ([]int, error) {
	return s.ChatPromptThinking(system, history, nil)
}

// Chat answers the last user message of history with adapter a (nil for
// the base model), streaming text to onText. Generation stops at eos or
// <|im_end|> (o.StopIDs is replaced).
func (s *Session) Chat(ctx context.Context, a *nn.Adapter, system string, history []tokenizer.Message, o generate.Options, onText func(string)) (Completion, error) {
	return s.ChatThinking(ctx, a, system, history, nil, o, onText)
}
