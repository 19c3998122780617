// Package dataset turns JSONL datasets into training examples: it reads
// train.jsonl rows in the common fine-tuning formats, renders chat rows with
// the model's chat template, tokenizes them into ids with a loss mask,
// truncates, batches with a seeded shuffle, lints the data for mistakes that
// silently spoil a fine-tune, and reads the evaluation rows of test.jsonl.
package dataset

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"qwentune/engine/config"
	"qwentune/model/tokenizer"
)

// Message is one turn of a conversation.
type Message = tokenizer.Message

// Tokenizer is what the data pipeline needs from a tokenizer;
// *tokenizer.Tokenizer satisfies it.
type Tokenizer interface {
	// Encode tokenizes text, recognising special-token text such as
	// "<|im_end|>"; it adds no BOS or EOS.
	Encode(text string) []int
	EOS() int
	Pad() int
	// ApplyChatTemplate renders a conversation as text, like transformers'
	// apply_chat_template(tokenize=False).
	ApplyChatTemplate(msgs []Message, addGenerationPrompt bool) (string, error)
	IsSpecial(id int) bool
	Decode(ids []int, skipSpecial bool) string
}

// Format is the shape of a dataset's rows, detected per file from its first
// valid row.
type Format string

// The row formats.
const (
	// FormatText rows are {"text": "..."}: trained on as they are.
	FormatText Format = "text"
	// FormatPromptCompletion rows are {"prompt": "...", "completion": "..."}.
	FormatPromptCompletion Format = "prompt_completion"
	// FormatInstruction rows are Alpaca's {"instruction", "input", "output"},
	// rendered as a user turn (instruction, a blank line, input) and an
	// assistant turn (output).
	FormatInstruction Format = "instruction"
	// FormatMessages rows are {"messages": [{"role", "content"}, ...]}.
	FormatMessages Format = "messages"
	// FormatDialogue rows are {"text": "User: ... Assistant: ..."}: the
	// turns are converted to messages.
	FormatDialogue Format = "dialogue"
)

// Describe names the format for people.
func (f Format) Describe() string {
	switch f {
	case FormatText:
		return "plain text"
	case FormatPromptCompletion:
		return "prompt/completion"
	case FormatInstruction:
		return "instruction/input/output (Alpaca)"
	case FormatMessages:
		return "chat messages"
	case FormatDialogue:
		return "User:/Assistant: dialogue text"
	}
	return string(f)
}

// IsChat reports whether rows of the format are rendered with the chat template.
func (f Format) IsChat() bool {
	return f == FormatInstruction || f == FormatMessages || f == FormatDialogue
}

// Row is one parsed line of a dataset, before tokenization.
type Row struct {
	// Line is the 1-based line number in the file.
	Line   int
	Format Format
	// Text is the "text" of text and dialogue rows.
	Text string
	// Prompt and Completion are set on prompt/completion rows.
	Prompt, Completion string
	// Messages is the conversation of chat-shaped rows (messages,
	// instruction, dialogue).
	Messages []Message
}

// Example is a tokenized row ready for training.
type Example struct {
	Line   int
	Format Format
	// Text is the rendered text that was tokenized (chat rows: after the chat
	// template), without the appended eos.
	Text string
	// IDs are the token ids after truncation.
	IDs []int
	// Labels[t] is IDs[t] where the loss counts the token and -100
	// (nn.IgnoreIndex) where it does not.
	Labels []int
	// PromptLen is the number of leading tokens a user would type before the
	// model answers: the prompt of prompt/completion rows, the conversation
	// up to the first assistant turn's generation prompt of chat rows, 0 for
	// text rows.
	PromptLen int
	// Truncated is the number of tokens cut off the end by truncation.
	Truncated int
	// Source is the parsed row.
	Source Row
	// Lints are this row's warnings (duplicates are found by Lints).
	Lints []Lint
}

// TrainedTokens counts the labels the loss sees (before the causal shift).
func (e Example) TrainedTokens() int {
	n := 0
	for _, l := range e.Labels {
		if l != ignoreIndex {
			n++
		}
	}
	return n
}

// ignoreIndex is nn.IgnoreIndex, the label excluded from the loss.
const ignoreIndex = -100

// Options says how rows become examples; see config.DatasetConfig.
type Options struct {
	// MaxLength is the longest example in tokens when Truncation is set.
	MaxLength  int
	Truncation bool
	// AppendEOS ends text and prompt/completion rows with the eos token,
	// trained on.
	AppendEOS bool
	// LossOn is "auto", "all" or "completion".
	LossOn string
}

// OptionsFrom takes the options from the dataset section of config.yml.
func OptionsFrom(d config.DatasetConfig) Options {
	return Options{MaxLength: d.MaxLength, Truncation: d.Truncation, AppendEOS: d.AppendEOS, LossOn: d.LossOn}
}

// Error is a bad row: "train.jsonl:17: "messages"[2]: missing "content"".
type Error struct {
	File string
	Line int
	// Field is the JSON path of the bad value, e.g. `"messages"[2]`, or "".
	Field   string
	Message string
}

// Error formats the error as "file:line: field: message".
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	b.WriteString(": ")
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Message)
	return b.String()
}

// ErrorList is every bad row of a file, in line order.
type ErrorList []*Error

// Error joins the errors one per line.
func (l ErrorList) Error() string {
	s := make([]string, len(l))
	for i, e := range l {
		s[i] = e.Error()
	}
	return strings.Join(s, "\n")
}

// Unwrap exposes the single errors to errors.As and errors.Is.
func (l ErrorList) Unwrap() []error {
	errs := make([]error, len(l))
	for i, e := range l {
		errs[i] = e
	}
	return errs
}

// Load reads and tokenizes a training file. It fails on the first bad row
// (its error says how many more there are); LoadAll reports them all.
func Load(path string, tok Tokenizer, opt Options) ([]Example, error) {
	ex, err := LoadAll(path, tok, opt)
	if list, ok := err.(ErrorList); ok && len(list) > 0 {
		return nil, list.First()
	}
	if err != nil {
		return nil, err
	}
	return ex, nil
}

// First is the first bad row, its message saying how many more there are.
func (l ErrorList) First() error {
	if len(l) == 0 {
		return nil
	}
	first := *l[0]
	if n := len(l) - 1; n > 0 {
		first.Message += fmt.Sprintf(" (and %d more bad %s)", n, plural(n, "row", "rows"))
	}
	return &first
}

// LoadAll reads and tokenizes a training file, returning the good examples
// and, as an ErrorList, every bad row. A file without a single row is an
// error too. Other errors are I/O errors.
func LoadAll(path string, tok Tokenizer, opt Options) ([]Example, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return LoadReader(f, path, tok, opt)
}

// LoadReader is LoadAll on a reader; name is the file name used in errors.
func LoadReader(r io.Reader, name string, tok Tokenizer, opt Options) ([]Example, error) {
	out, _, errs, err := readExamples(r, name, tok, opt)
	if err != nil {
		return nil, err
	}
	if len(errs) > 0 {
		return out, errs
	}
	return out, nil
}

// readExamples reads and tokenizes every row of r: the good examples, the
// file's format, and every bad row in line order (a file without a single
// row is one). err is an I/O error.
func readExamples(r io.Reader, name string, tok Tokenizer, opt Options) ([]Example, Format, ErrorList, error) {
	return readExamplesContext(context.Background(), r, name, tok, opt)
}

func readExamplesContext(ctx context.Context, r io.Reader, name string, tok Tokenizer, opt Options) ([]Example, Format, ErrorList, error) {
	rows, format, err := ReadRows(r, name)
	errs, isList := err.(ErrorList)
	if err != nil && !isList {
		return nil, format, nil, err
	}
	out := make([]Example, 0, len(rows))
	for _, row := range rows {
		if err := ctx.Err(); err != nil {
			return nil, format, nil, fmt.Errorf("%s: stopped at line %d: %w", name, row.Line, err)
		}
		ex, err := Tokenize(row, tok, opt)
		if err != nil {
			errs = append(errs, &Error{File: name, Line: row.Line, Message: err.Error()})
			continue
		}
		out = append(out, ex)
	}
	if len(rows) == 0 && len(errs) == 0 {
		errs = append(errs, &Error{File: name, Message: "no rows"})
	}
	slices.SortStableFunc(errs, func(a, b *Error) int { return a.Line - b.Line })
	return out, format, errs, nil
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// SHA256 returns the hex sha256 of a file, the data hash kept with a run.
func SHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
