package engine

import "testing"

// SplitThinking reads a reply as Qwen3's chat template reads an assistant
// turn's content (split on </think>, the newlines around the parts dropped).
func TestSplitThinking(t *testing.T) {
	for _, tc := range []struct{ in, thinking, answer string }{
		{"<think>\nTwo and two.\n</think>\n\n4", "Two and two.", "4"},
		{"<think>\n\n</think>\n\nHello", "", "Hello"},
		{"Plain answer", "", "Plain answer"},
		{"<think>\ncut off by max tok", "cut off by max tok", ""},
		{"before <think> x </think>\nafter", " x ", "after"},
		{"a </think> b </think>\n\nc", "a ", "c"},
		{"", "", ""},
	} {
		th, ans := SplitThinking(tc.in)
		if th != tc.thinking || ans != tc.answer {
			t.Errorf("SplitThinking(%q) = %q, %q; want %q, %q", tc.in, th, ans, tc.thinking, tc.answer)
		}
	}
	m := AssistantMessage("<think>\nhm\n</think>\n\nHi")
	if m.Role != "assistant" || m.Content != "Hi" || m.ReasoningContent != "hm" {
		t.Fatalf("AssistantMessage: %+v", m)
	}
}
