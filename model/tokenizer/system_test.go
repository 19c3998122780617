package tokenizer

import "testing"

// The default system prompt is read from each template itself.
func TestDefaultSystemPrompt(t *testing.T) {
	templates := readTemplates(t)
	for name, want := range map[string]string{
		"Qwen2-Instruct":   "You are a helpful assistant.",
		"Qwen2.5-Instruct": "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.",
	} {
		if got := withTemplate(t, templates[name]).DefaultSystemPrompt(); got != want {
			t.Errorf("%s: %q, want %q", name, got, want)
		}
	}
	if got := qwen(t).DefaultSystemPrompt(); got != "" {
		t.Errorf("Qwen3: %q, want none", got)
	}
	if got := Builtin().DefaultSystemPrompt(); got != "You are a helpful assistant." {
		t.Errorf("built-in ChatML: %q", got)
	}
}
