package engine

import (
	"context"
	"strings"

	"qwentune/engine/generate"
	"qwentune/engine/nn"
	"qwentune/model/tokenizer"
)

// SplitThinking separates a reasoning model's reply into its thinking and
// its answer the way Qwen3's chat template reads an assistant turn: the
// answer is what follows the last </think> (leading newlines dropped), the
// thinking what precedes the first </think>, after the last <think> in it
// (surrounding newlines dropped). A reply without </think> is all answer,
// unless it opened a <think> it never closed (cut off by max tokens): then
// it is all thinking.
func SplitThinking(text string) (thinking, answer string) {
	if i := strings.LastIndex(text, "</think>"); i >= 0 {
		before := strings.TrimRight(text[:strings.Index(text, "</think>")], "\n")
		if j := strings.LastIndex(before, "<think>"); j >= 0 {
			before = before[j+len("<think>"):]
		}
		return strings.TrimLeft(before, "\n"), strings.TrimLeft(text[i+len("</think>"):], "\n")
	}
	if j := strings.Index(text, "<think>"); j >= 0 && strings.TrimSpace(text[:j]) == "" {
		return strings.Trim(text[j+len("<think>"):], "\n"), ""
	}
	return "", text
}

// AssistantMessage is a reply as the next turn's history holds it: the
// answer as Content and the thinking apart as ReasoningContent, so that the
// chat template alone decides whether old thinking is fed back (Qwen3's
// drops it for turns before the last user message).
func AssistantMessage(reply string) tokenizer.Message {
	thinking, answer := SplitThinking(reply)
	return tokenizer.Message{Role: "assistant", Content: answer, ReasoningContent: thinking}
}

// ChatPromptThinking is ChatPrompt with the template's enable_thinking set
// (nil leaves it undefined, the template's default); templates without the
// switch ignore it.
func (s *Session) ChatPromptThinking(system string, history []tokenizer.Message, think *bool) ([]int, error) {
	msgs := history
	if system != "" && (len(history) == 0 || history[0].Role != "system") {
		msgs = append([]tokenizer.Message{{Role: "system", Content: system}}, history...)
	}
	text, err := s.Tokenizer.RenderChat(msgs, tokenizer.ChatOptions{AddGenerationPrompt: true, EnableThinking: think})
	if err != nil {
		return nil, err
	}
	return s.Tokenizer.Encode(text), nil
}

// ChatThinking is Chat with the think-first switch of templates that have
// one (SupportsThinking): think true lets the model reason first, false
// asks it to answer directly, nil keeps the template's default.
func (s *Session) ChatThinking(ctx context.Context, a *nn.Adapter, system string, history []tokenizer.Message, think *bool, o generate.Options, onText func(string)) (Completion, error) {
	prompt, err := s.ChatPromptThinking(system, history, think)
	if err != nil {
		return Completion{}, err
	}
	o.StopIDs = s.StopIDs(true)
	return s.Generate(ctx, a, prompt, o, onText)
}
