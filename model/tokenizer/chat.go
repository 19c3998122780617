package tokenizer

import (
	"context"
	"fmt"
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
	return t.ApplyChatTemplateContext(context.Background(), msgs, addGenerationPrompt)
}

// ApplyChatTemplateContext is ApplyChatTemplate that stops when ctx is done,
// within the Template* limits.
func (t *Tokenizer) ApplyChatTemplateContext(ctx context.Context, msgs []Message, addGenerationPrompt bool) (string, error) {
	t.tmplOnce.Do(func() {
		t.tmpl.tmpl, t.tmpl.err = jinja.Compile(t.ChatTemplate())
	})
	if t.tmpl.err != nil {
		return "", fmt.Errorf("%s: chat template: %w", t.name, t.tmpl.err)
	}
	list := make([]any, len(msgs))
	for i, m := range msgs {
		list[i] = map[string]any{"role": m.Role, "content": m.Content}
	}
	vars := map[string]any{
		"messages":              list,
		"add_generation_prompt": addGenerationPrompt,
		"tools":                 nil,
		"documents":             nil,
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
