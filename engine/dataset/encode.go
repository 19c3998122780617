package dataset

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"
)

// segment is a piece of an example tokenized on its own, with whether the
// loss counts its tokens.
type segment struct {
	text    string
	ids     []int // used instead of text for the appended eos
	trained bool
	prompt  bool // part of the prompt (counts towards PromptLen)
	turn    int  // 1 + index of the assistant message it renders, 0 otherwise
}

// errNotPrefixStable means rendering a conversation prefix by prefix does not
// reproduce the whole rendering, so the assistant turns can't be located.
var errNotPrefixStable = errors.New("the chat template does not render a conversation prefix by prefix, " +
	"so the assistant turns can't be found")

// Tokenize turns a row into an example: render, tokenize, mask, truncate.
//
// Loss mask (opt.LossOn):
//   - "auto" follows TRL's SFTTrainer: prompt/completion rows train on the
//     completion (and the appended eos) only, every other row on all tokens.
//   - "all" trains on every token.
//   - "completion" trains on the completion of prompt/completion rows and on
//     the assistant turns of chat rows (from after "<|im_start|>assistant\n"
//     to the end of the turn, "<|im_end|>\n" included); text rows, which
//     have no prompt, train on all tokens.
//
// The prompt and the parts of a conversation are tokenized separately and
// concatenated: that is the token sequence the model sees when it generates
// (the prompt is tokenized alone, then it writes the answer), and it keeps
// the boundary between masked and trained tokens on a token boundary.
func Tokenize(row Row, tok Tokenizer, opt Options) (Example, error) {
	ex := Example{Line: row.Line, Format: row.Format, Source: row}
	var segs []segment
	switch row.Format {
	case FormatText:
		ex.Text = row.Text
		segs = []segment{{text: row.Text, trained: true}}
	case FormatPromptCompletion:
		ex.Text = row.Prompt + row.Completion
		segs = []segment{
			{text: row.Prompt, trained: opt.LossOn == "all", prompt: true},
			{text: row.Completion, trained: true},
		}
	case FormatInstruction, FormatMessages, FormatDialogue:
		text, chatSegs, err := chatSegments(tok, row.Messages, opt.LossOn != "completion")
		if err != nil {
			return Example{}, err
		}
		ex.Text, segs = text, chatSegs
	default:
		return Example{}, fmt.Errorf("unknown row format %q", row.Format)
	}

	lastTurn := [2]int{-1, -1} // token range of the last assistant message
	for _, s := range segs {
		ids := s.ids
		if ids == nil && s.text != "" {
			ids = tok.Encode(s.text)
		}
		if s.prompt {
			ex.PromptLen += len(ids)
		}
		if s.turn > 0 && s.turn == len(row.Messages) {
			lastTurn = [2]int{len(ex.IDs), len(ex.IDs) + len(ids)}
		}
		for _, id := range ids {
			ex.IDs = append(ex.IDs, id)
			if s.trained {
				ex.Labels = append(ex.Labels, id)
			} else {
				ex.Labels = append(ex.Labels, ignoreIndex)
			}
		}
	}
	// The eos that ends a text or prompt/completion row is trained on, so the
	// model learns to stop; chat rows end with the template's end token.
	endsWithEOS := len(ex.IDs) > 0 && ex.IDs[len(ex.IDs)-1] == tok.EOS()
	if !row.Format.IsChat() && opt.AppendEOS && !endsWithEOS {
		ex.IDs = append(ex.IDs, tok.EOS())
		ex.Labels = append(ex.Labels, tok.EOS())
	}
	fullLen := len(ex.IDs)
	if opt.Truncation && opt.MaxLength > 0 && fullLen > opt.MaxLength {
		ex.Truncated = fullLen - opt.MaxLength
		ex.IDs = ex.IDs[:opt.MaxLength:opt.MaxLength]
		ex.Labels = ex.Labels[:opt.MaxLength:opt.MaxLength]
	}
	ex.PromptLen = min(ex.PromptLen, len(ex.IDs))
	ex.Lints = rowLints(ex, tok, opt, fullLen, lastTurn)
	return ex, nil
}

// chatSegments renders a conversation and cuts it into segments at the
// assistant turns. The turns are found by rendering prefixes: turn i starts
// where the rendering of messages[:i] with the generation prompt ends, and
// ends where the rendering of messages[:i+1] ends. When the template is not
// prefix-stable and the whole text is trained on anyway, it is one segment;
// otherwise, for a conversation ending with an assistant turn whose prompt
// renders as a prefix of the whole (Qwen3's template with earlier
// assistant turns), only that last turn is trained.
func chatSegments(tok Tokenizer, msgs []Message, trainAll bool) (string, []segment, error) {
	full, err := tok.ApplyChatTemplate(msgs, false)
	if err != nil {
		return "", nil, err
	}
	type span struct{ start, end, turn int }
	var spans []span
	stable := true
	for i, m := range msgs {
		if m.Role != "assistant" {
			continue
		}
		pre, err1 := tok.ApplyChatTemplate(msgs[:i], true)
		upto, err2 := tok.ApplyChatTemplate(msgs[:i+1], false)
		prevEnd := 0
		if len(spans) > 0 {
			prevEnd = spans[len(spans)-1].end
		}
		if err1 != nil || err2 != nil || !strings.HasPrefix(full, upto) || !strings.HasPrefix(upto, pre) ||
			len(pre) < prevEnd {
			stable = false
			break
		}
		spans = append(spans, span{joinWhitespace(full, prevEnd, len(pre), len(upto)), len(upto), i + 1})
	}
	if !stable {
		if trainAll {
			return full, []segment{{text: full, trained: true}}, nil
		}
		// Qwen3's template renders an assistant turn differently once a
		// user message follows it (its thinking is dropped), so earlier
		// turns cannot be found; the last turn of a conversation that ends
		// with it still can, and it is the one rendered as the model writes
		// it: train on that one alone.
		last := len(msgs) - 1
		if last < 0 || msgs[last].Role != "assistant" {
			return "", nil, errNotPrefixStable
		}
		pre, err := tok.ApplyChatTemplate(msgs[:last], true)
		if err != nil || !strings.HasPrefix(full, pre) {
			return "", nil, errNotPrefixStable
		}
		return full, []segment{{text: pre, prompt: true}, {text: full[len(pre):], trained: true, turn: last + 1}}, nil
	}
	var segs []segment
	pos := 0
	for k, s := range spans {
		segs = append(segs,
			segment{text: full[pos:s.start], trained: trainAll, prompt: k == 0},
			segment{text: full[s.start:s.end], trained: true, turn: s.turn})
		pos = s.end
	}
	// With no assistant turn, the whole conversation is prompt.
	segs = append(segs, segment{text: full[pos:], trained: trainAll, prompt: len(spans) == 0})
	return full, segs, nil
}

// joinWhitespace moves the start of an assistant turn (a cut in full between
// segments tokenized apart) back over the whitespace that ends the text
// before it when the turn's content starts with whitespace holding a line
// break: the pre-tokenizer would take both runs as one piece (its
// `\s*[\r\n]+`), so "assistant\n" + "\n\nText" is "\n\n\n" in the ids
// apply_chat_template(tokenize=True) gives, not "\n" + "\n\n". Like TRL's
// assistant masks, the piece that straddles the cut goes with the answer.
// It never moves the start before lo, the end of the previous turn.
func joinWhitespace(full string, lo, start, end int) int {
	lead := strings.TrimLeftFunc(full[start:end], unicode.IsSpace)
	if !strings.ContainsAny(full[start:end-len(lead)], "\r\n") {
		return start
	}
	return max(lo, len(strings.TrimRightFunc(full[:start], unicode.IsSpace)))
}

// LintKind classifies a dataset warning.
type LintKind string

// The kinds of lint.
const (
	LintTruncated   LintKind = "truncated"        // longer than max_length
	LintNoTrained   LintKind = "nothing_to_learn" // no token is trained on
	LintDuplicate   LintKind = "duplicate"        // same rendered text as an earlier row
	LintSpecialText LintKind = "special_text"     // content holds special-token text such as "<|im_end|>"
	LintNoAssistant LintKind = "no_assistant"     // a chat row without an assistant turn
	LintNoStop      LintKind = "missing_eos"      // nothing teaches the model to stop
)

// Lint is a warning about one row: the row trains, but probably not as meant.
type Lint struct {
	Line    int
	Kind    LintKind
	Message string
}

// String formats the lint as "line N: message".
func (l Lint) String() string { return fmt.Sprintf("line %d: %s", l.Line, l.Message) }

func rowLints(ex Example, tok Tokenizer, opt Options, fullLen int, lastTurn [2]int) []Lint {
	var out []Lint
	add := func(kind LintKind, format string, a ...any) {
		out = append(out, Lint{Line: ex.Line, Kind: kind, Message: fmt.Sprintf(format, a...)})
	}
	switch {
	case ex.Truncated > 0:
		add(LintTruncated, "cut %d of %d tokens to fit max_length %d", ex.Truncated, fullLen, opt.MaxLength)
	case opt.MaxLength > 0 && fullLen > opt.MaxLength:
		add(LintTruncated, "%d tokens, longer than max_length %d (truncation is off)", fullLen, opt.MaxLength)
	}
	if ex.TrainedTokens() == 0 {
		if ex.Truncated > 0 {
			add(LintNoTrained, "no token is trained on: truncation cut every trained token")
		} else {
			add(LintNoTrained, "no token is trained on")
		}
	}
	row := ex.Source
	for _, c := range contents(row) {
		for _, id := range tok.Encode(c.text) {
			if tok.IsSpecial(id) {
				add(LintSpecialText, "%s contains the special-token text %s, which the tokenizer reads as a control token",
					c.where, strconv.Quote(tok.Decode([]int{id}, false)))
				break
			}
		}
	}
	if !row.Format.IsChat() {
		n := len(ex.IDs)
		switch {
		case n > 0 && ex.IDs[n-1] == tok.EOS() && ex.Labels[n-1] != ignoreIndex:
		case ex.Truncated > 0 && opt.AppendEOS:
			add(LintNoStop, "truncation cut the eos: this row does not teach the model to stop")
		default:
			add(LintNoStop, "does not end with a trained eos (append_eos is off): the model won't learn to stop")
		}
		return out
	}
	hasAssistant := false
	for _, m := range row.Messages {
		hasAssistant = hasAssistant || m.Role == "assistant"
	}
	if !hasAssistant {
		add(LintNoAssistant, "no assistant turn: nothing shows the model how to answer")
		return out
	}
	if lastTurn[0] < 0 {
		return out
	}
	if lastTurn[1] > len(ex.IDs) {
		add(LintNoStop, "truncation cut the end of the last assistant turn: this row does not teach the model to stop")
		return out
	}
	for t := lastTurn[0]; t < lastTurn[1]; t++ {
		if tok.IsSpecial(ex.IDs[t]) {
			return out
		}
	}
	add(LintNoStop, "the chat template ends the assistant turn without a special token: the model won't learn to stop")
	return out
}

// content is a piece of user data in a row and where it came from.
type content struct{ where, text string }

func contents(row Row) []content {
	switch row.Format {
	case FormatText:
		return []content{{`"text"`, row.Text}}
	case FormatPromptCompletion:
		return []content{{`"prompt"`, row.Prompt}, {`"completion"`, row.Completion}}
	case FormatMessages:
		out := make([]content, len(row.Messages))
		for i, m := range row.Messages {
			out[i] = content{fmt.Sprintf(`"messages"[%d].content`, i), m.Content}
		}
		return out
	}
	out := make([]content, len(row.Messages))
	for i, m := range row.Messages {
		out[i] = content{fmt.Sprintf("the %s turn", m.Role), m.Content}
	}
	return out
}
