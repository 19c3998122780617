package tokenizer

import (
	"context"
	"fmt"
	"strings"
	"time"

	"qwentune/model/tokenizer/internal/jinja"
)

// Limits on rendering a chat template, which comes with the model and is
// not trusted: a recursive macro, a loop without end or a string doubled
// in a loop is an error, not a crash, a hang or all the memory.
const (
	TemplateMaxDepth = 64               // nested macro calls
	TemplateMaxSize  = 16 << 20         // bytes of output or of any string (items of a list)
	TemplateMaxSteps = 2_000_000        // nodes and expressions evaluated
	TemplateTimeout  = 10 * time.Second // one rendering
)

// ChatMLTemplate is Qwen2-Instruct's chat template, used when a model ships none: every message is
// "<|im_start|>{role}\n{content}<|im_end|>\n", a default system message comes first when the
// conversation has none, and the generation prompt is "<|im_start|>assistant\n".
const ChatMLTemplate = "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}" +
	"{{ '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}{% endif %}" +
	"{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}" +
	"{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"

// Message is one turn of a conversation.
type Message struct {
	Role    string // "system", "user" or "assistant"
	Content string
	// ReasoningContent is an assistant turn's thinking, kept apart from
	// Content (the reasoning_content field of Qwen3's template); when empty
	// the message has no such field, and a template may find the thinking
	// in Content between <think> and </think> instead.
	ReasoningContent string
}

// ChatOptions are the template variables besides the messages.
type ChatOptions struct {
	AddGenerationPrompt bool
	// EnableThinking, when not nil, is passed as enable_thinking (Qwen3's
	// switch: false ends the generation prompt with an empty think block);
	// nil leaves it undefined, as apply_chat_template does without the
	// keyword.
	EnableThinking *bool
}

// DefaultSystemPrompt is the system message the chat template puts first
// when a conversation has none ("You are a helpful assistant." for Qwen2,
// "You are Qwen, created by Alibaba Cloud. You are a helpful assistant."
// for Qwen2.5), read by rendering a one-message conversation; "" when the
// template adds none (Qwen3) or cannot render.
func (t *Tokenizer) DefaultSystemPrompt() string {
	text, err := t.ApplyChatTemplate([]Message{{Role: "user", Content: "\x00"}}, false)
	if err != nil {
		return ""
	}
	rest, ok := strings.CutPrefix(text, "<|im_start|>system\n")
	if !ok {
		return ""
	}
	sys, _, ok := strings.Cut(rest, "<|im_end|>")
	if !ok || strings.Contains(sys, "\x00") {
		return ""
	}
	return sys
}

// SupportsThinking reports whether the chat template reads
// enable_thinking, so that a think-first switch means something.
func (t *Tokenizer) SupportsThinking() bool {
	return strings.Contains(t.ChatTemplate(), "enable_thinking")
}

// chatRenderer is the compiled template, or the error compiling it gave.
type chatRenderer struct {
	tmpl *jinja.Template
	err  error
}

// HasChatTemplate reports whether the model ships a chat template (otherwise ChatMLTemplate is used).
func (t *Tokenizer) HasChatTemplate() bool { return t.chatTemplate != "" }

// ChatTemplate returns the template ApplyChatTemplate renders: the model's own, or ChatMLTemplate.
func (t *Tokenizer) ChatTemplate() string {
	if t.chatTemplate == "" {
		return ChatMLTemplate
	}
	return t.chatTemplate
}

// ApplyChatTemplate renders msgs with the chat template as transformers' apply_chat_template does
// (tokenize=False), with the variables messages, add_generation_prompt, bos_token and eos_token.
func (t *Tokenizer) ApplyChatTemplate(msgs []Message, addGenerationPrompt bool) (string, error) {
	return t.RenderChat(msgs, ChatOptions{AddGenerationPrompt: addGenerationPrompt})
}

// ApplyChatTemplateContext is ApplyChatTemplate that stops when ctx is done,
// within the Template* limits.
func (t *Tokenizer) ApplyChatTemplateContext(ctx context.Context, msgs []Message, addGenerationPrompt bool) (string, error) {
	return t.RenderChatContext(ctx, msgs, ChatOptions{AddGenerationPrompt: addGenerationPrompt})
}

// RenderChat is ApplyChatTemplate with every option: apply_chat_template(msgs, tokenize=False,
// add_generation_prompt=…, enable_thinking=…).
func (t *Tokenizer) RenderChat(msgs []Message, o ChatOptions) (string, error) {
	return t.RenderChatContext(context.Background(), msgs, o)
}

// RenderChatContext is RenderChat that stops when ctx is done, within the
// Template* limits.
func (t *Tokenizer) RenderChatContext(ctx context.Context, msgs []Message, o ChatOptions) (string, error) {
	addGenerationPrompt := o.AddGenerationPrompt
	t.tmplOnce.Do(func() {
		t.tmpl.tmpl, t.tmpl.err = jinja.Compile(t.ChatTemplate())
	})
	if t.tmpl.err != nil {
		return "", fmt.Errorf("%s: chat template: %w", t.name, t.tmpl.err)
	}
	list := make([]any, len(msgs))
	for i, m := range msgs {
		msg := map[string]any{"role": m.Role, "content": m.Content}
		if m.ReasoningContent != "" {
			msg["reasoning_content"] = m.ReasoningContent
		}
		list[i] = msg
	}
	vars := map[string]any{
		"messages":              list,
		"add_generation_prompt": addGenerationPrompt,
		"tools":                 nil,
		"documents":             nil,
	}
	if o.EnableThinking != nil {
		vars["enable_thinking"] = *o.EnableThinking
	}
	// transformers passes only the special tokens that are set.
	if t.bosToken != "" {
		vars["bos_token"] = t.bosToken
	}
	if t.eosToken != "" {
		vars["eos_token"] = t.eosToken
	}
	ctx, cancel := context.WithTimeout(ctx, TemplateTimeout)
	defer cancel()
	out, err := t.tmpl.tmpl.RenderLimited(ctx, vars, jinja.Limits{MaxDepth: TemplateMaxDepth, MaxSize: TemplateMaxSize, MaxSteps: TemplateMaxSteps})
	if err != nil {
		return "", fmt.Errorf("%s: chat template: %w", t.name, err)
	}
	return out, nil
}
