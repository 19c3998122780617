//go:build parity

package parity

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"qwentune/engine/dataset"
	"qwentune/model/tokenizer"
)

// tricky are strings the pre-tokenizer regex, NFC, byte-level BPE and the added tokens have to agree on.
var tricky = []string{
	"", " ", "\u00a0", "\u3000x", "\u2028", "\u200b\u200d", "\ufeffBOM", "e\u0301", "\u00e9", "Å vs A\u030a",
	"ﬁ ligature", "Ω Ω", "x\r\ny\rz", "\r\r\n\n", " \n \n", "a\t\tb", "\t\tx", "x   ", "   x", "x \u00a0y",
	"1234567890", "3.14159", "1,000,000", "٣٤٥ ۴۵۶ ४५६", "Ⅻ ½ ²", "v2.0-rc1", "10x10", "$5.99", "#1 @2",
	"I'm you're we've she'll he'd it's", "I'M YOU'RE WE'VE", "'s's's", "don't'", "o’clock ’s", "rock 'n' roll",
	"(word) [word] {word}", "$x+y=z$", "--flag=value", "a...b", "!!!???", "```go\nfunc f() {}\n```",
	"<|endoftext|>", "<|im_start|>user\nhi<|im_end|>", "a<|im_end|>b", "<|im_start|><|im_start|>", "<|im_end",
	"<think>reasoning</think>answer", "<tool_call>{}</tool_call>", "<|fim_prefix|>x<|fim_suffix|>y<|fim_middle|>",
	"<|endoftext|><|endoftext|>", " <|endoftext|> ", "<|vision_start|>", "<|unknown|>",
	"日本語のテキストです。", "中文测试：你好，世界！", "한국어 텍스트", "Русский текст, ёлки", "العربية نص",
	"עברית", "ไทย ภาษา", "हिन्दी पाठ", "Ελληνικά", "Tiếng Việt có dấu", "🚀🦙😶\u200d🌫️👍🏽", "🇫🇷🇩🇪", "👨\u200d👩\u200d👧",
	"\x00\x01\x7f", "\U0001F600\U0001F601", "ǅ ǈ ǋ", "İstanbul ıi", "straße STRASSE", "ÀÉÎÕÜ àéîõü",
}

// corpus is at least 200 strings: the tricky ones, every line (and every string value) of every data file in the
// repo (data/*.jsonl, the tokenizer's and the evaluator's test data), and the README's paragraphs.
func corpus(t *testing.T) []string {
	out := slices.Clone(tricky)
	var files []string
	for _, g := range []string{"data/*.jsonl", "model/tokenizer/testdata/*", "engine/eval/testdata/*", "engine/*/testdata/*.jsonl"} {
		m, err := filepath.Glob(filepath.Join(repoDir, g))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	slices.Sort(files)
	files = slices.Compact(files)
	if len(files) < 5 {
		t.Fatalf("found only %d data files: %v", len(files), files)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, string(b))
		sc := bufio.NewScanner(bytes.NewReader(b))
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			line := sc.Text()
			out = append(out, line)
			var v any
			if json.Unmarshal([]byte(line), &v) == nil {
				out = append(out, stringsIn(v)...)
			}
		}
	}
	readme, err := os.ReadFile(filepath.Join(repoDir, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	out = append(out, strings.Split(string(readme), "\n\n")...)
	return out
}

func stringsIn(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case []any:
		var out []string
		for _, x := range v {
			out = append(out, stringsIn(x)...)
		}
		return out
	case map[string]any:
		var out []string
		for _, x := range v {
			out = append(out, stringsIn(x)...)
		}
		slices.Sort(out)
		return out
	}
	return nil
}

type chatReq struct {
	Messages []message `json:"messages"`
	Gen      bool      `json:"add_generation_prompt"`
}

type message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

func messages(ms []tokenizer.Message) []message {
	out := make([]message, len(ms))
	for i, m := range ms {
		out[i] = message{m.Role, m.Content}
	}
	return out
}

type tokResp struct {
	Fast    bool       `json:"fast"`
	IDs     [][]int    `json:"ids"`
	Decoded []string   `json:"decoded"`
	Chats   []chatResp `json:"chats"`
}

type chatResp struct {
	Text string `json:"text"`
	IDs  []int  `json:"ids"`
}

// TestTokenizer is the first half of check 3: ids identical to AutoTokenizer (fast) on every corpus string, and
// decoding back identical.
func TestTokenizer(t *testing.T) {
	dir := modelDir("tied")
	tok := loadTokenizer(t, dir)
	texts := corpus(t)
	if len(texts) < 200 {
		t.Fatalf("corpus of %d strings, the check asks for at least 200", len(texts))
	}
	var resp tokResp
	pythonJSON(t, "tokens.py", map[string]any{"tokenizer": dir, "texts": texts, "chats": []chatReq{}}, &resp)
	if !resp.Fast {
		t.Fatal("AutoTokenizer did not load the fast tokenizer")
	}
	bad := 0
	for i, s := range texts {
		got := tok.Encode(s)
		if !slices.Equal(got, resp.IDs[i]) {
			bad++
			if bad <= 10 {
				t.Errorf("%q: QwenTune %v, transformers %v", clip(s), clipIDs(got), clipIDs(resp.IDs[i]))
			}
			continue
		}
		if d := tok.Decode(got, false); d != resp.Decoded[i] {
			t.Errorf("decode of %q: QwenTune %q, transformers %q", clip(s), clip(d), clip(resp.Decoded[i]))
		}
	}
	t.Logf("%d strings, %d differ", len(texts), bad)
}

// TestChatTemplate is the second half of check 3: for every dataset format the data pipeline renders with the
// chat template (chat messages, instruction, dialogue text), the rendered text and the ids of each example equal
// apply_chat_template's (tokenize=False and True); the prompt length the pipeline counts equals the ids of the
// conversation up to the first assistant turn rendered with add_generation_prompt; and the generation prompt of
// every conversation prefix that ends with a user turn renders the same. Text and prompt/completion rows, which
// are not templated, equal the tokenizer's ids of their text (prompt + completion) followed by eos.
func TestChatTemplate(t *testing.T) {
	dir := modelDir("tied")
	tok := loadTokenizer(t, dir)
	rows := map[string][]string{
		"messages": {
			`{"messages": [{"role": "user", "content": "Hi!"}, {"role": "assistant", "content": "Hello. How can I help?"}]}`,
			`{"messages": [{"role": "system", "content": "You answer in French."}, {"role": "user", "content": "Bonjour"}, {"role": "assistant", "content": "Salut ! Ça va ?"}]}`,
			`{"messages": [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}, {"role": "user", "content": "and 3+3?\n"}, {"role": "assistant", "content": "6, of course."}]}`,
			`{"messages": [{"role": "user", "content": "  spaces  "}, {"role": "assistant", "content": " leading space and 日本語 🚀"}]}`,
			`{"messages": [{"role": "user", "content": "code?"}, {"role": "assistant", "content": "` + "```" + `py\nprint(1)\n` + "```" + `"}]}`,
			`{"messages": [{"role": "user", "content": "blank lines"}, {"role": "assistant", "content": "\n\nstarts with two newlines"}]}`,
		},
		"instruction": {
			`{"instruction": "Translate to German.", "input": "Good morning", "output": "Guten Morgen"}`,
			`{"instruction": "List three colours.", "input": "", "output": "Red, green and blue."}`,
			`{"instruction": "Summarise:", "input": "A long\ntext with\r\nlines.", "output": "Lines."}`,
		},
		"text": {`{"text": "Plain text, trained on every token. It's 42 degrees."}`, `{"text": "Zweite Zeile\nmit Umbruch"}`},
		"prompt_completion": {
			`{"prompt": "Question: What is the capital of France?\nAnswer:", "completion": " Paris."}`,
			`{"prompt": "Translate 'cat' to Spanish:\n", "completion": "gato"}`,
		},
	}
	files := map[string]string{"dialogue": filepath.Join(repoDir, "data/train.jsonl")}
	tmp := t.TempDir()
	for name, lines := range rows {
		p := filepath.Join(tmp, name+".jsonl")
		if err := os.WriteFile(p, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		files[name] = p
	}
	opt := dataset.Options{AppendEOS: true, LossOn: "auto"}
	type item struct {
		label string
		ex    dataset.Example
	}
	var items []item
	var chats []chatReq
	var texts []string
	for _, name := range []string{"messages", "instruction", "dialogue", "text", "prompt_completion"} {
		exs, err := dataset.Load(files[name], tok, opt)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for _, ex := range exs {
			items = append(items, item{fmt.Sprintf("%s line %d (%s)", name, ex.Line, ex.Format), ex})
			src := ex.Source
			if !ex.Format.IsChat() {
				texts = append(texts, src.Text+src.Prompt+src.Completion)
				continue
			}
			chats = append(chats, chatReq{messages(src.Messages), false})
			if i := slices.IndexFunc(src.Messages, func(m tokenizer.Message) bool { return m.Role == "assistant" }); i > 0 {
				chats = append(chats, chatReq{messages(src.Messages[:i]), true})
			}
			for i, m := range src.Messages {
				if m.Role == "user" {
					chats = append(chats, chatReq{messages(src.Messages[:i+1]), true})
				}
			}
		}
	}
	var resp tokResp
	pythonJSON(t, "tokens.py", map[string]any{"tokenizer": dir, "texts": texts, "chats": chats}, &resp)
	ci, ti := 0, 0
	for _, it := range items {
		ex, src := it.ex, it.ex.Source
		if !ex.Format.IsChat() {
			want := append(slices.Clone(resp.IDs[ti]), tok.EOS())
			ti++
			if !slices.Equal(ex.IDs, want) {
				t.Errorf("%s: ids %v, the tokenizer's ids of the text + eos are %v", it.label, clipIDs(ex.IDs), clipIDs(want))
			}
			continue
		}
		whole := resp.Chats[ci]
		ci++
		if ex.Text != whole.Text {
			t.Errorf("%s: rendered %q, apply_chat_template %q", it.label, clip(ex.Text), clip(whole.Text))
		}
		if !slices.Equal(ex.IDs, whole.IDs) {
			t.Errorf("%s: ids %v, apply_chat_template(tokenize=True) %v", it.label, clipIDs(ex.IDs), clipIDs(whole.IDs))
		}
		if i := slices.IndexFunc(src.Messages, func(m tokenizer.Message) bool { return m.Role == "assistant" }); i > 0 {
			// The prompt is the generation prompt's ids, unless the whole text's ids don't start with them (an
			// answer starting with a line break joins the prompt's last "\n"): then the joined piece is the answer's.
			p := resp.Chats[ci]
			want := len(p.IDs)
			if !slices.Equal(whole.IDs[:min(len(whole.IDs), want)], p.IDs) {
				for want = 0; want < len(p.IDs) && whole.IDs[want] == p.IDs[want]; want++ {
				}
			}
			if ex.PromptLen != want {
				t.Errorf("%s: prompt length %d, want %d (apply_chat_template(messages[:%d], add_generation_prompt=True) has %d ids)",
					it.label, ex.PromptLen, want, i, len(p.IDs))
			}
			ci++
		}
		for i, m := range src.Messages {
			if m.Role != "user" {
				continue
			}
			want := resp.Chats[ci]
			ci++
			text, err := tok.ApplyChatTemplate(src.Messages[:i+1], true)
			if err != nil {
				t.Fatal(err)
			}
			if text != want.Text || !slices.Equal(tok.Encode(text), want.IDs) {
				t.Errorf("%s: messages[:%d] with the generation prompt: %q %v, apply_chat_template %q %v",
					it.label, i+1, clip(text), clipIDs(tok.Encode(text)), clip(want.Text), clipIDs(want.IDs))
			}
		}
	}
	t.Logf("%d examples, %d templated renderings, %d plain texts", len(items), len(chats), len(texts))
}

func clip(s string) string {
	if r := []rune(s); len(r) > 120 {
		return string(r[:120]) + "…"
	}
	return s
}

func clipIDs(ids []int) string {
	if len(ids) > 40 {
		return fmt.Sprint(ids[:40]) + fmt.Sprintf("…(%d ids)", len(ids))
	}
	return fmt.Sprint(ids)
}
