package dataset

import (
	"strings"
	"testing"
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
