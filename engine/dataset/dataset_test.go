package dataset

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"qwentune/engine/config"
	"qwentune/engine/nn"
	"qwentune/model/tokenizer"
)

var _ Tokenizer = (*tokenizer.Tokenizer)(nil)

var defaultOpt = Options{MaxLength: 512, Truncation: true, AppendEOS: true, LossOn: "auto"}

func TestReadRowsFormats(t *testing.T) {
	tests := []struct {
		name, file string
		format     Format
		rows       []Row
	}{
		{"text", `{"text": "hello world"}` + "\n" + `{"text": "second", "id": 7}`, FormatText,
			[]Row{{Line: 1, Format: FormatText, Text: "hello world"}, {Line: 2, Format: FormatText, Text: "second"}}},
		{"prompt completion", `{"prompt": "2+2=", "completion": " 4"}` + "\n" + `{"prompt": "", "completion": "x"}`,
			FormatPromptCompletion, []Row{
				{Line: 1, Format: FormatPromptCompletion, Prompt: "2+2=", Completion: " 4"},
				{Line: 2, Format: FormatPromptCompletion, Completion: "x"}}},
		{"alpaca", `{"instruction": "Translate", "input": "chat", "output": "cat"}` + "\n" +
			`{"instruction": "Say hi", "input": "", "output": "hi"}` + "\n" + `{"instruction": "Say hi", "output": "hi"}`,
			FormatInstruction, []Row{
				{Line: 1, Format: FormatInstruction, Messages: []Message{{Role: "user", Content: "Translate\n\nchat"}, {Role: "assistant", Content: "cat"}}},
				{Line: 2, Format: FormatInstruction, Messages: []Message{{Role: "user", Content: "Say hi"}, {Role: "assistant", Content: "hi"}}},
				{Line: 3, Format: FormatInstruction, Messages: []Message{{Role: "user", Content: "Say hi"}, {Role: "assistant", Content: "hi"}}}}},
		{"messages", `{"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}, {"role": "assistant", "content": ""}]}`,
			FormatMessages, []Row{{Line: 1, Format: FormatMessages,
				Messages: []Message{{Role: "system", Content: "Be brief."}, {Role: "user", Content: "Hi"}, {Role: "assistant", Content: ""}}}}},
		{"dialogue", `{"text": "User: How?\nAssistant: Like this.\nUser: And then?\nAssistant: Done."}` + "\n" +
			`{"text": "User: one line Assistant: reply here"}` + "\n" +
			`{"text": "System: Be terse.\nHuman: Hi\n\nAssistant:  Hello \n"}`,
			FormatDialogue, []Row{
				{Line: 1, Format: FormatDialogue, Text: "User: How?\nAssistant: Like this.\nUser: And then?\nAssistant: Done.",
					Messages: []Message{{Role: "user", Content: "How?"}, {Role: "assistant", Content: "Like this."}, {Role: "user", Content: "And then?"}, {Role: "assistant", Content: "Done."}}},
				{Line: 2, Format: FormatDialogue, Text: "User: one line Assistant: reply here",
					Messages: []Message{{Role: "user", Content: "one line"}, {Role: "assistant", Content: "reply here"}}},
				{Line: 3, Format: FormatDialogue, Text: "System: Be terse.\nHuman: Hi\n\nAssistant:  Hello \n",
					Messages: []Message{{Role: "system", Content: "Be terse."}, {Role: "user", Content: "Hi"}, {Role: "assistant", Content: "Hello"}}}}},
		{"text with a later dialogue row stays text", `{"text": "plain"}` + "\n" + `{"text": "User: a\nAssistant: b"}`,
			FormatText, []Row{{Line: 1, Format: FormatText, Text: "plain"},
				{Line: 2, Format: FormatText, Text: "User: a\nAssistant: b"}}},
		{"bom crlf blank lines", "\uFEFF{\"text\": \"a\"}\r\n\r\n   \n{\"text\": \"b\"}\r\n", FormatText,
			[]Row{{Line: 1, Format: FormatText, Text: "a"}, {Line: 4, Format: FormatText, Text: "b"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rows, format, err := ReadRows(strings.NewReader(tt.file), "train.jsonl")
			if err != nil {
				t.Fatal(err)
			}
			if format != tt.format {
				t.Errorf("format %q, want %q", format, tt.format)
			}
			if !reflect.DeepEqual(rows, tt.rows) {
				t.Errorf("rows\n got %+v\nwant %+v", rows, tt.rows)
			}
		})
	}
}

func TestReadRowsErrors(t *testing.T) {
	tests := []struct {
		name, file, want string
	}{
		{"missing content", `{"messages": [{"role": "user", "content": "a"}, {"role": "assistant"}]}`,
			`train.jsonl:1: "messages"[1]: missing "content"`},
		{"missing role", `{"messages": [{"content": "a"}]}`, `train.jsonl:1: "messages"[0]: missing "role"`},
		{"bad role", `{"messages": [{"role": "bot", "content": "a"}]}`,
			`train.jsonl:1: "messages"[0].role: must be "system", "user" or "assistant", got "bot"`},
		{"content number", `{"messages": [{"role": "user", "content": 5}]}`,
			`train.jsonl:1: "messages"[0].content: must be a string, got number`},
		{"content null", `{"messages": [{"role": "user", "content": null}]}`,
			`train.jsonl:1: "messages"[0].content: must be a string, got null`},
		{"message not object", `{"messages": ["hi"]}`, `train.jsonl:1: "messages"[0]: must be an object, got string`},
		{"messages empty", `{"messages": []}`, `train.jsonl:1: "messages": is empty`},
		{"messages object", `{"messages": {}}`, `train.jsonl:1: "messages": must be an array, got object`},
		{"text number", `{"text": 12}`, `train.jsonl:1: "text": must be a string, got number`},
		{"text empty", `{"text": "  "}`, `train.jsonl:1: "text": is empty`},
		{"missing completion", `{"prompt": "a"}`, `train.jsonl:1: missing "completion"`},
		{"missing prompt", `{"completion": "a"}`, `train.jsonl:1: missing "prompt"`},
		{"empty completion", `{"prompt": "a", "completion": ""}`, `train.jsonl:1: "completion": is empty`},
		{"missing output", `{"instruction": "a", "input": "b"}`, `train.jsonl:1: missing "output"`},
		{"input number", `{"instruction": "a", "input": 1, "output": "c"}`, `train.jsonl:1: "input": must be a string, got number`},
		{"unknown keys", `{"question": "a", "answer": "b"}`,
			`train.jsonl:1: unknown row format: expected "text", "prompt" and "completion", "instruction" and "output", or "messages"; got keys "answer", "question"`},
		{"no keys", `{}`,
			`train.jsonl:1: unknown row format: expected "text", "prompt" and "completion", "instruction" and "output", or "messages"; got no keys`},
		{"array row", `["text"]`, `train.jsonl:1: expected a JSON object, got array`},
		{"invalid json", `{"text": "a",}`,
			`train.jsonl:1: invalid JSON at column 14: invalid character '}' looking for beginning of object key string`},
		{"two objects", `{"text": "a"} {"text": "b"}`,
			`train.jsonl:1: invalid JSON at column 15: invalid character '{' after top-level value`},
		{"invalid utf8", "{\"text\": \"a\xffb\"}", `train.jsonl:1: invalid UTF-8 at byte 12`},
		{"mixed formats", `{"text": "a"}` + "\n\n" + `{"prompt": "p", "completion": "c"}`,
			`train.jsonl:3: row is prompt/completion but the file is plain text (detected from line 1)`},
		{"dialogue then plain", `{"text": "User: a\nAssistant: b"}` + "\n" + `{"text": "just text"}`,
			`train.jsonl:2: "text": not "User: ... Assistant: ..." turns like line 1`},
		{"several", `{"text": 1}` + "\n" + `{"text": "ok"}` + "\n" + `nope` + "\n" + `{"prompt": "a", "completion": "b"}`,
			"train.jsonl:1: \"text\": must be a string, got number\n" +
				"train.jsonl:3: invalid JSON at column 2: invalid character 'o' in literal null (expecting 'u')\n" +
				"train.jsonl:4: row is prompt/completion but the file is plain text (detected from line 2)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := ReadRows(strings.NewReader(tt.file), "train.jsonl")
			if err == nil {
				t.Fatalf("no error, want %s", tt.want)
			}
			if err.Error() != tt.want {
				t.Errorf("error\n got %s\nwant %s", err, tt.want)
			}
			var e *Error
			if !errors.As(err, &e) || e.Line == 0 {
				t.Errorf("not a located *Error: %#v", err)
			}
		})
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "train.jsonl")
	content := `{"text": "good"}` + "\n" + `{"text": ""}` + "\n" + `{"text": 3}` + "\n" + `{"text": "fine"}` + "\n"
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	ex, err := LoadAll(path, byteTok{}, defaultOpt)
	var list ErrorList
	if !errors.As(err, &list) || len(list) != 2 || list[0].Line != 2 || list[1].Line != 3 {
		t.Fatalf("LoadAll error = %v", err)
	}
	if len(ex) != 2 || ex[0].Line != 1 || ex[1].Line != 4 {
		t.Errorf("LoadAll kept %d good rows", len(ex))
	}
	_, err = Load(path, byteTok{}, defaultOpt)
	if want := path + `:2: "text": is empty (and 1 more bad row)`; err == nil || err.Error() != want {
		t.Errorf("Load error\n got %v\nwant %s", err, want)
	}
	if _, err := Load(filepath.Join(dir, "missing.jsonl"), byteTok{}, defaultOpt); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	empty := filepath.Join(dir, "empty.jsonl")
	os.WriteFile(empty, []byte("\n\n"), 0o644)
	if _, err := Load(empty, byteTok{}, defaultOpt); err == nil || err.Error() != empty+": no rows" {
		t.Errorf("empty file: %v", err)
	}
	// A template error is a row error too.
	msgs := `{"messages": [{"role": "user", "content": "boom"}]}`
	_, err = LoadReader(strings.NewReader(msgs), "t.jsonl", byteTok{failAt: "boom"}, defaultOpt)
	if err == nil || err.Error() != "t.jsonl:1: template failed" {
		t.Errorf("template error: %v", err)
	}
}

// trainedText decodes the trained tokens of an example, runs joined by "|".
func trainedText(e Example) string {
	var runs []string
	var cur []int
	for i, l := range e.Labels {
		if l != ignoreIndex {
			cur = append(cur, e.IDs[i])
			continue
		}
		if cur != nil {
			runs = append(runs, byteTok{}.Decode(cur, false))
			cur = nil
		}
	}
	if cur != nil {
		runs = append(runs, byteTok{}.Decode(cur, false))
	}
	return strings.Join(runs, "|")
}

func ntok(s string) int { return len(byteTok{}.Encode(s)) }

func TestTokenizeMasks(t *testing.T) {
	const sys = "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
	chat := []Message{{Role: "user", Content: "Hi"}, {Role: "assistant", Content: "Hello"}, {Role: "user", Content: "Bye"}, {Role: "assistant", Content: "Ciao"}}
	tests := []struct {
		name      string
		row       Row
		lossOn    string
		appendEOS bool
		text      string
		trained   string
		promptLen int
	}{
		{"text eos", Row{Format: FormatText, Text: "abc"}, "auto", true, "abc", "abc<|endoftext|>", 0},
		{"text no eos", Row{Format: FormatText, Text: "abc"}, "auto", false, "abc", "abc", 0},
		{"text completion", Row{Format: FormatText, Text: "abc"}, "completion", true, "abc", "abc<|endoftext|>", 0},
		{"text already ends with eos", Row{Format: FormatText, Text: "abc<|endoftext|>"}, "auto", true,
			"abc<|endoftext|>", "abc<|endoftext|>", 0},
		{"eos inside text is trained", Row{Format: FormatText, Text: "a<|endoftext|>b"}, "all", true,
			"a<|endoftext|>b", "a<|endoftext|>b<|endoftext|>", 0},
		{"pc auto", Row{Format: FormatPromptCompletion, Prompt: "Q: 1+1?", Completion: " A: 2"}, "auto", true,
			"Q: 1+1? A: 2", " A: 2<|endoftext|>", 7},
		{"pc completion", Row{Format: FormatPromptCompletion, Prompt: "Q", Completion: "A"}, "completion", true,
			"QA", "A<|endoftext|>", 1},
		{"pc all", Row{Format: FormatPromptCompletion, Prompt: "Q", Completion: "A"}, "all", false, "QA", "QA", 1},
		{"chat auto", Row{Format: FormatMessages, Messages: chat[:2]}, "auto", true,
			sys + "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello<|im_end|>\n",
			sys + "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello<|im_end|>\n",
			ntok(sys + "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n")},
		{"chat completion two turns", Row{Format: FormatDialogue, Messages: chat}, "completion", true,
			sys + "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello<|im_end|>\n" +
				"<|im_start|>user\nBye<|im_end|>\n<|im_start|>assistant\nCiao<|im_end|>\n",
			"Hello<|im_end|>\n|Ciao<|im_end|>\n",
			ntok(sys + "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n")},
		{"chat completion with system", Row{Format: FormatInstruction,
			Messages: []Message{{Role: "system", Content: "S"}, {Role: "user", Content: "U"}, {Role: "assistant", Content: "A"}}}, "completion", true,
			"<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nU<|im_end|>\n<|im_start|>assistant\nA<|im_end|>\n",
			"A<|im_end|>\n", ntok("<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nU<|im_end|>\n<|im_start|>assistant\n")},
		{"chat answer starting with line breaks", Row{Format: FormatMessages,
			Messages: []Message{{Role: "user", Content: "U"}, {Role: "assistant", Content: "\n\nA"}}}, "completion", true,
			sys + "<|im_start|>user\nU<|im_end|>\n<|im_start|>assistant\n\n\nA<|im_end|>\n",
			"\n\n\nA<|im_end|>\n", ntok(sys + "<|im_start|>user\nU<|im_end|>\n<|im_start|>assistant")},
		{"chat answer starting with a space", Row{Format: FormatMessages,
			Messages: []Message{{Role: "user", Content: "U"}, {Role: "assistant", Content: " A"}}}, "completion", true,
			sys + "<|im_start|>user\nU<|im_end|>\n<|im_start|>assistant\n A<|im_end|>\n",
			" A<|im_end|>\n", ntok(sys + "<|im_start|>user\nU<|im_end|>\n<|im_start|>assistant\n")},
		{"chat completion trailing user", Row{Format: FormatMessages, Messages: chat[:3]}, "completion", true,
			sys + "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello<|im_end|>\n<|im_start|>user\nBye<|im_end|>\n",
			"Hello<|im_end|>\n", ntok(sys + "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opt := Options{MaxLength: 1000, Truncation: true, AppendEOS: tt.appendEOS, LossOn: tt.lossOn}
			tt.row.Line = 5
			ex, err := Tokenize(tt.row, byteTok{}, opt)
			if err != nil {
				t.Fatal(err)
			}
			if ex.Text != tt.text {
				t.Errorf("Text %q, want %q", ex.Text, tt.text)
			}
			if got := trainedText(ex); got != tt.trained {
				t.Errorf("trained %q, want %q", got, tt.trained)
			}
			if ex.PromptLen != tt.promptLen {
				t.Errorf("PromptLen %d, want %d", ex.PromptLen, tt.promptLen)
			}
			if len(ex.IDs) != len(ex.Labels) || ex.Line != 5 || ex.Format != tt.row.Format {
				t.Errorf("bad example %+v", ex)
			}
			for i, l := range ex.Labels {
				if l != ignoreIndex && l != ex.IDs[i] {
					t.Errorf("label %d = %d, id %d", i, l, ex.IDs[i])
				}
			}
		})
	}
}

// TestChatIDsAreTheWholeText: a chat example's ids are the tokenizer's ids of
// its whole rendered text, as apply_chat_template(tokenize=True) gives them,
// also where an answer starting with line breaks joins the template's "\n".
func TestChatIDsAreTheWholeText(t *testing.T) {
	tok := tokenizer.Builtin()
	for _, content := range []string{"Hello", "\n\nHello", " \nHello", "\r\n x", "  two spaces", "\t\ttabs\n"} {
		row := Row{Format: FormatMessages, Messages: []Message{{Role: "user", Content: "Hi\n\n"}, {Role: "assistant", Content: content}}}
		for _, lossOn := range []string{"auto", "completion"} {
			ex, err := Tokenize(row, tok, Options{LossOn: lossOn})
			if err != nil {
				t.Fatal(err)
			}
			if want := tok.Encode(ex.Text); !slices.Equal(ex.IDs, want) {
				t.Errorf("answer %q, loss_on %s: ids %v, the whole text's %v", content, lossOn, ex.IDs, want)
			}
		}
	}
}

func TestTokenizeNotPrefixStable(t *testing.T) {
	row := Row{Format: FormatMessages, Messages: []Message{{Role: "user", Content: "Hi"}, {Role: "assistant", Content: "Yo"}}}
	tok := byteTok{unstable: true}
	if _, err := Tokenize(row, tok, Options{LossOn: "completion"}); !errors.Is(err, errNotPrefixStable) {
		t.Errorf("completion on an unstable template: %v", err)
	}
	ex, err := Tokenize(row, tok, Options{LossOn: "auto"})
	if err != nil || ex.TrainedTokens() != len(ex.IDs) || ex.PromptLen != 0 {
		t.Errorf("auto on an unstable template: %v %+v", err, ex)
	}
	// An assistant turn first can't be found by prefixes either.
	first := Row{Format: FormatMessages, Messages: []Message{{Role: "assistant", Content: "Yo"}}}
	if _, err := Tokenize(first, byteTok{}, Options{LossOn: "completion"}); !errors.Is(err, errNotPrefixStable) {
		t.Errorf("assistant first: %v", err)
	}
}

func TestTruncation(t *testing.T) {
	row := Row{Line: 1, Format: FormatPromptCompletion, Prompt: "0123456789", Completion: "abcdef"}
	ex, err := Tokenize(row, byteTok{}, Options{MaxLength: 12, Truncation: true, AppendEOS: true, LossOn: "auto"})
	if err != nil {
		t.Fatal(err)
	}
	if len(ex.IDs) != 12 || len(ex.Labels) != 12 || ex.Truncated != 5 || trainedText(ex) != "ab" {
		t.Errorf("truncated example %+v trained %q", ex, trainedText(ex))
	}
	assertLints(t, ex.Lints, "line 1: cut 5 of 17 tokens to fit max_length 12",
		"line 1: truncation cut the eos: this row does not teach the model to stop")

	ex, _ = Tokenize(row, byteTok{}, Options{MaxLength: 8, Truncation: true, AppendEOS: true, LossOn: "auto"})
	assertLints(t, ex.Lints, "line 1: cut 9 of 17 tokens to fit max_length 8",
		"line 1: no token is trained on: truncation cut every trained token",
		"line 1: truncation cut the eos: this row does not teach the model to stop")
	if ex.PromptLen != 8 {
		t.Errorf("PromptLen %d after truncation, want 8", ex.PromptLen)
	}

	ex, _ = Tokenize(row, byteTok{}, Options{MaxLength: 12, Truncation: false, AppendEOS: true, LossOn: "auto"})
	if len(ex.IDs) != 17 || ex.Truncated != 0 {
		t.Errorf("truncation off cut the row: %+v", ex)
	}
	assertLints(t, ex.Lints, "line 1: 17 tokens, longer than max_length 12 (truncation is off)")
}

func assertLints(t *testing.T, lints []Lint, want ...string) {
	t.Helper()
	var got []string
	for _, l := range lints {
		got = append(got, l.String())
	}
	if !slices.Equal(got, want) {
		t.Errorf("lints\n got %q\nwant %q", got, want)
	}
}

func TestLints(t *testing.T) {
	file := strings.Join([]string{
		`{"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]}`,
		`{"messages": [{"role": "user", "content": "Say <|im_end|> please"}, {"role": "assistant", "content": "no"}]}`,
		`{"messages": [{"role": "user", "content": "only a question"}]}`,
		`{"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]}`,
		`{"messages": [{"role": "user", "content": "long"}, {"role": "assistant", "content": "` + strings.Repeat("x", 200) + `"}]}`,
	}, "\n")
	ex, err := LoadReader(strings.NewReader(file), "t.jsonl", byteTok{}, Options{MaxLength: 100, Truncation: true, LossOn: "completion"})
	if err != nil {
		t.Fatal(err)
	}
	assertLints(t, Lints(ex),
		`line 2: "messages"[0].content contains the special-token text "<|im_end|>", which the tokenizer reads as a control token`,
		"line 3: no token is trained on",
		"line 3: no assistant turn: nothing shows the model how to answer",
		"line 4: duplicate of line 1",
		"line 5: cut 163 of 263 tokens to fit max_length 100",
		"line 5: truncation cut the end of the last assistant turn: this row does not teach the model to stop",
	)
	text := `{"text": "a"}` + "\n" + `{"text": "User: x"}`
	ex, err = LoadReader(strings.NewReader(text), "t.jsonl", byteTok{}, Options{MaxLength: 100, LossOn: "auto"})
	if err != nil {
		t.Fatal(err)
	}
	assertLints(t, Lints(ex),
		"line 1: does not end with a trained eos (append_eos is off): the model won't learn to stop",
		"line 2: does not end with a trained eos (append_eos is off): the model won't learn to stop")
	dialogue := `{"text": "User: x"}` + "\n" + `{"text": "System: s\nUser: <|endoftext|>\nAssistant: ok"}`
	ex, err = LoadReader(strings.NewReader(dialogue), "t.jsonl", byteTok{}, defaultOpt)
	if err != nil {
		t.Fatal(err)
	}
	assertLints(t, Lints(ex),
		"line 1: no assistant turn: nothing shows the model how to answer",
		`line 2: the user turn contains the special-token text "<|endoftext|>", which the tokenizer reads as a control token`)
}

func TestBatches(t *testing.T) {
	var ex []Example
	for i := range 7 {
		ids := make([]int, i+1)
		labels := make([]int, i+1)
		for j := range ids {
			ids[j] = 10*i + j
			labels[j] = ids[j]
		}
		labels[0] = ignoreIndex
		if i > 0 {
			ids[i] = eosID // an eos in the data keeps its label
			labels[i] = eosID
		}
		ex = append(ex, Example{Line: i + 1, IDs: ids, Labels: labels})
	}
	for _, padding := range []string{"longest", "max_length"} {
		batches := Batches(ex, 3, padding, 9, eosID, 42, 0)
		if len(batches) != 3 || len(batches[2].IDs) != 1 {
			t.Fatalf("%s: %d batches", padding, len(batches))
		}
		seen := map[int]bool{}
		for _, b := range batches {
			width := 0
			for r := range b.IDs {
				width = max(width, len(b.IDs[r]))
			}
			for r := range b.IDs {
				if len(b.IDs[r]) != width || len(b.Labels[r]) != width || len(b.Mask[r]) != width {
					t.Fatalf("%s: ragged batch", padding)
				}
				i := b.IDs[r][0] / 10
				seen[i] = true
				e := ex[i]
				for p := range width {
					real := p < len(e.IDs)
					if b.Mask[r][p] != real {
						t.Errorf("%s: mask[%d] = %v", padding, p, b.Mask[r][p])
					}
					switch {
					case real && (b.IDs[r][p] != e.IDs[p] || b.Labels[r][p] != e.Labels[p]):
						t.Errorf("%s: row %d pos %d changed", padding, i, p)
					case !real && (b.IDs[r][p] != eosID || b.Labels[r][p] != nn.IgnoreIndex):
						t.Errorf("%s: pad at %d is id %d label %d", padding, p, b.IDs[r][p], b.Labels[r][p])
					}
				}
			}
			longest := 0
			for r := range b.Mask {
				longest = max(longest, len(b.Mask[r])-countFalse(b.Mask[r]))
			}
			if padding == "longest" && width != longest {
				t.Errorf("longest: width %d, longest row %d", width, longest)
			}
			if padding == "max_length" && width != 9 {
				t.Errorf("max_length: width %d, want 9", width)
			}
		}
		if len(seen) != 7 {
			t.Errorf("%s: epoch visits %d of 7 rows", padding, len(seen))
		}
	}
	// max_length narrower than a row kept whole: the row sets the width.
	if b := Batches(ex, 7, "max_length", 3, eosID, 1, 0); len(b[0].IDs[0]) != 7 {
		t.Errorf("width %d, want the longest row 7", len(b[0].IDs[0]))
	}
	// The batches are copies.
	b := Batches(ex[:1], 1, "longest", 0, eosID, 1, 0)
	b[0].IDs[0][0] = -5
	if ex[0].IDs[0] == -5 {
		t.Error("Batches aliases the examples")
	}
}

func countFalse(m []bool) int {
	n := 0
	for _, v := range m {
		if !v {
			n++
		}
	}
	return n
}

func TestOrder(t *testing.T) {
	a, b := Order(50, 42, 0), Order(50, 42, 0)
	if !slices.Equal(a, b) {
		t.Error("same seed and epoch, different orders")
	}
	if slices.Equal(a, Order(50, 42, 1)) || slices.Equal(a, Order(50, 43, 0)) {
		t.Error("another epoch or seed gives the same order")
	}
	s := slices.Clone(a)
	slices.Sort(s)
	for i, v := range s {
		if v != i {
			t.Fatalf("not a permutation: %v", a)
		}
	}
	if slices.IsSorted(a) {
		t.Error("no shuffle")
	}
}

func TestNewStats(t *testing.T) {
	// numpy: percentile([1, 2, 3, 4, 10], [50, 95]) = [3, 8.8]
	s := NewStats([]int{10, 1, 4, 3, 2})
	want := Stats{Min: 1, Max: 10, Mean: 4, Median: 3, P95: 8.8}
	if s.Min != want.Min || s.Max != want.Max || s.Mean != want.Mean || s.Median != want.Median ||
		s.P95 < 8.8-1e-12 || s.P95 > 8.8+1e-12 {
		t.Errorf("NewStats = %+v, want %+v", s, want)
	}
	if (NewStats(nil) != Stats{}) {
		t.Error("stats of nothing")
	}
	if s := NewStats([]int{4, 6}); s.Median != 5 {
		t.Errorf("median of 4, 6 = %v", s.Median)
	}
}

func TestAnnotate(t *testing.T) {
	row := Row{Line: 1, Format: FormatPromptCompletion, Prompt: "Q\n", Completion: "A"}
	ex, err := Tokenize(row, byteTok{}, defaultOpt)
	if err != nil {
		t.Fatal(err)
	}
	want := "- [Q][\\n]\n+ [A][<|endoftext|>]"
	if got := Annotate(ex, byteTok{}); got != want {
		t.Errorf("Annotate\n got %q\nwant %q", got, want)
	}
	toks := Tokens(ex, byteTok{})
	if len(toks) != 4 || toks[0] != (Token{ID: 'Q', Text: "Q"}) || !toks[3].Trained {
		t.Errorf("Tokens = %+v", toks)
	}
}

func TestInspect(t *testing.T) {
	path := filepath.Join(t.TempDir(), "train.jsonl")
	content := `{"prompt": "Q1 ", "completion": "A1"}` + "\n" + `{"prompt": 5}` + "\n" +
		`{"prompt": "Q1 ", "completion": "A1"}` + "\n" + `{"prompt": "a long prompt here", "completion": "x"}` + "\n"
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	rep, err := Inspect(path, byteTok{}, Options{MaxLength: 16, Truncation: true, AppendEOS: true, LossOn: "auto"})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Format != FormatPromptCompletion || len(rep.Examples) != 3 || len(rep.Errors) != 1 ||
		!slices.Equal(rep.Lengths, []int{6, 6, 20}) || rep.Tokens != 28 || rep.Trained != 6 || rep.TruncatedRows != 1 {
		t.Errorf("report %+v", rep)
	}
	var buf bytes.Buffer
	if err := rep.Write(&buf, byteTok{}, 1); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{
		"format   prompt/completion (prompt_completion)\n",
		"rows     3 good, 1 bad\n",
		"tokens   min 6, mean 10.7, median 6.0, p95 18.6, max 20 (before truncation)\n",
		"trained  6 of 28 tokens (21.4%), loss_on auto, max_length 16, 1 row truncated\n",
		path + `:2: "prompt": must be a string, got number` + "\n",
		path + ":3: duplicate of line 1\n",
		path + ":4: cut 4 of 20 tokens to fit max_length 16\n",
		"line 1: 6 tokens, 3 trained, prompt 3\n  - [Q][1][ ]\n  + [A][1][<|endoftext|>]\n",
		"... 2 more rows\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	if _, err := Inspect(filepath.Join(t.TempDir(), "x"), byteTok{}, defaultOpt); err == nil {
		t.Error("Inspect of a missing file")
	}
}

func TestSHA256(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	os.WriteFile(path, []byte("abc"), 0o644)
	got, err := SHA256(path)
	if want := "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"; err != nil || got != want {
		t.Errorf("SHA256 = %s, %v", got, err)
	}
}

func TestOptionsFrom(t *testing.T) {
	d := config.Default().Dataset
	if got := OptionsFrom(d); got != defaultOpt {
		t.Errorf("OptionsFrom = %+v", got)
	}
}

// TestSeedData loads the repository's data/ files with the built-in Qwen2
// tokenizer and the default config.
func TestSeedData(t *testing.T) {
	tok := tokenizer.Builtin()
	opt := OptionsFrom(config.Default().Dataset)
	ex, err := Load("../../data/train.jsonl", tok, opt)
	if err != nil {
		t.Fatal(err)
	}
	if len(ex) < 25 || ex[0].Format != FormatDialogue {
		t.Fatalf("%d examples of %s", len(ex), ex[0].Format)
	}
	if lints := Lints(ex); len(lints) != 0 {
		t.Errorf("seed data lints: %v", lints)
	}
	want := "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nHow do I reset my Brightnote password?<|im_end|>\n<|im_start|>assistant\n"
	if !strings.HasPrefix(ex[0].Text, want) || tok.Decode(ex[0].IDs[:ex[0].PromptLen], false) != want {
		t.Errorf("first row renders as %q", ex[0].Text)
	}
	if imEnd, _ := tok.TokenID("<|im_end|>"); ex[0].IDs[len(ex[0].IDs)-2] != imEnd {
		t.Errorf("second-to-last token %d, want <|im_end|> %d", ex[0].IDs[len(ex[0].IDs)-2], imEnd)
	}
}

func FuzzLoad(f *testing.F) {
	for _, s := range []string{
		`{"text": "hello"}`,
		`{"text": "User: a\nAssistant: b"}` + "\n" + `{"text": "User: c Assistant: d User: e"}`,
		`{"prompt": "p", "completion": "c"}` + "\r\n" + `{"prompt": "<|im_end|>", "completion": "c<|endoftext|>"}`,
		`{"instruction": "i", "input": "x", "output": "o"}`,
		`{"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}, {"role": "assistant", "content": "a"}]}`,
		"\uFEFF{\"text\": \"a\"}\n\n[1]\n{\"messages\": [{}]}\n\xff",
	} {
		f.Add([]byte(s), uint8(16), uint8(0))
	}
	lossOn := []string{"auto", "all", "completion"}
	f.Fuzz(func(t *testing.T, data []byte, maxLen uint8, mode uint8) {
		opt := Options{MaxLength: int(maxLen), Truncation: mode&4 == 0, AppendEOS: mode&8 == 0, LossOn: lossOn[int(mode&3)%3]}
		ex, err := LoadReader(bytes.NewReader(data), "fuzz.jsonl", byteTok{}, opt)
		if err != nil {
			var list ErrorList
			if !errors.As(err, &list) || len(list) == 0 {
				t.Fatalf("error is not an ErrorList: %v", err)
			}
		}
		for _, e := range ex {
			if len(e.IDs) != len(e.Labels) || e.Line < 1 || e.PromptLen > len(e.IDs) {
				t.Fatalf("bad example %+v", e)
			}
			if opt.Truncation && opt.MaxLength > 0 && len(e.IDs) > opt.MaxLength {
				t.Fatalf("row of %d tokens after truncation to %d", len(e.IDs), opt.MaxLength)
			}
			for i, l := range e.Labels {
				if l != ignoreIndex && l != e.IDs[i] {
					t.Fatalf("label %d is %d for id %d", i, l, e.IDs[i])
				}
			}
		}
		Lints(ex)
		if len(ex) > 0 {
			for _, b := range Batches(ex, 2, "longest", opt.MaxLength, eosID, 1, 0) {
				if len(b.IDs) != len(b.Labels) || len(b.IDs) != len(b.Mask) {
					t.Fatal("ragged batch")
				}
			}
		}
	})
}
