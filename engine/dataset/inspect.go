package dataset

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Report is what the CLI's inspect command and the app's dataset screen show
// about a training file.
type Report struct {
	File   string
	SHA256 string
	Format Format
	// Examples are the good rows; Errors the bad ones.
	Examples []Example
	Errors   ErrorList
	// Lengths are the rows' token counts before truncation, in row order;
	// Stats summarise them.
	Lengths []int
	Stats   Stats
	// Tokens counts the tokens after truncation, Trained those the loss
	// sees, TruncatedRows the rows cut.
	Tokens, Trained, TruncatedRows int
	Lints                          []Lint
	Options                        Options
}

// Stats summarises token lengths.
type Stats struct {
	Min, Max          int
	Mean, Median, P95 float64
}

// NewStats computes the statistics of lengths: the median and the 95th
// percentile interpolate linearly between ranks (numpy's default).
func NewStats(lengths []int) Stats {
	if len(lengths) == 0 {
		return Stats{}
	}
	s := slices.Clone(lengths)
	slices.Sort(s)
	sum := 0
	for _, v := range s {
		sum += v
	}
	return Stats{
		Min: s[0], Max: s[len(s)-1],
		Mean:   float64(sum) / float64(len(s)),
		Median: quantile(s, 0.5),
		P95:    quantile(s, 0.95),
	}
}

func quantile(sorted []int, q float64) float64 {
	pos := q * float64(len(sorted)-1)
	lo := int(math.Floor(pos))
	hi := min(lo+1, len(sorted)-1)
	frac := pos - float64(lo)
	return float64(sorted[lo]) + frac*float64(sorted[hi]-sorted[lo])
}

// Inspect loads a training file and gathers its report. The file is read
// once: SHA256 is the hash of the very bytes the examples come from. The
// error is an I/O error only; bad rows are in Report.Errors.
func Inspect(path string, tok Tokenizer, opt Options) (Report, error) {
	return InspectContext(context.Background(), path, tok, opt)
}

// InspectContext is Inspect that stops when ctx is done (reading or
// tokenising). The file is read with ReadSource: a regular file, a pipe or
// standard input, read once, within MaxFileBytes.
func InspectContext(ctx context.Context, path string, tok Tokenizer, opt Options) (Report, error) {
	data, err := ReadSource(ctx, path)
	if err != nil {
		return Report{}, err
	}
	sum := sha256.Sum256(data)
	rep := Report{File: path, SHA256: hex.EncodeToString(sum[:]), Options: opt}
	rep.Examples, rep.Format, rep.Errors, err = readExamplesContext(ctx, bytes.NewReader(data), path, tok, opt)
	if err != nil {
		return Report{}, err
	}
	for _, ex := range rep.Examples {
		rep.Lengths = append(rep.Lengths, len(ex.IDs)+ex.Truncated)
		rep.Tokens += len(ex.IDs)
		rep.Trained += ex.TrainedTokens()
		if ex.Truncated > 0 {
			rep.TruncatedRows++
		}
	}
	rep.Stats = NewStats(rep.Lengths)
	rep.Lints = Lints(rep.Examples)
	return rep, nil
}

// Token is one token of an example as the dataset viewer shows it.
type Token struct {
	ID      int
	Text    string // the token decoded on its own (special tokens as text)
	Trained bool
}

// Tokens lists an example's tokens with whether the loss counts each.
func Tokens(e Example, tok Tokenizer) []Token {
	out := make([]Token, len(e.IDs))
	for i, id := range e.IDs {
		out[i] = Token{ID: id, Text: tok.Decode([]int{id}, false), Trained: e.Labels[i] != ignoreIndex}
	}
	return out
}

// Annotate prints an example's tokens, one line per run of tokens with the
// same mask: "+" for trained, "-" for masked, each token in brackets with Go
// escapes, e.g.
//
//   - [<|im_start|>][user][\n][Hi][<|im_end|>][\n][<|im_start|>][assistant][\n]
//   - [Hello][!][<|im_end|>][\n]
func Annotate(e Example, tok Tokenizer) string {
	var b strings.Builder
	for i, t := range Tokens(e, tok) {
		if i == 0 || t.Trained != (e.Labels[i-1] != ignoreIndex) {
			if i > 0 {
				b.WriteByte('\n')
			}
			if t.Trained {
				b.WriteString("+ ")
			} else {
				b.WriteString("- ")
			}
		}
		q := strconv.Quote(t.Text)
		b.WriteByte('[')
		b.WriteString(q[1 : len(q)-1])
		b.WriteByte(']')
	}
	return b.String()
}

// Write prints the report: summary, bad rows, lints, then the first maxRows
// examples annotated with Annotate (all of them when maxRows < 0).
func (r Report) Write(w io.Writer, tok Tokenizer, maxRows int) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "file     %s\nsha256   %s\n", r.File, r.SHA256)
	format := "none (no valid row)"
	if r.Format != "" {
		format = fmt.Sprintf("%s (%s)", r.Format.Describe(), r.Format)
	}
	fmt.Fprintf(bw, "format   %s\n", format)
	fmt.Fprintf(bw, "rows     %d good, %d bad\n", len(r.Examples), len(r.Errors))
	if len(r.Lengths) > 0 {
		s := r.Stats
		fmt.Fprintf(bw, "tokens   min %d, mean %.1f, median %.1f, p95 %.1f, max %d (before truncation)\n",
			s.Min, s.Mean, s.Median, s.P95, s.Max)
		fmt.Fprintf(bw, "trained  %d of %d tokens (%.1f%%), loss_on %s, max_length %d, %d %s truncated\n",
			r.Trained, r.Tokens, 100*float64(r.Trained)/float64(max(1, r.Tokens)), r.Options.LossOn,
			r.Options.MaxLength, r.TruncatedRows, plural(r.TruncatedRows, "row", "rows"))
	}
	if len(r.Errors) > 0 {
		fmt.Fprintf(bw, "\nerrors:\n")
		for _, e := range r.Errors {
			fmt.Fprintf(bw, "  %s\n", e)
		}
	}
	if len(r.Lints) > 0 {
		fmt.Fprintf(bw, "\nwarnings:\n")
		for _, l := range r.Lints {
			fmt.Fprintf(bw, "  %s:%d: %s\n", r.File, l.Line, l.Message)
		}
	}
	for i, e := range r.Examples {
		if maxRows >= 0 && i >= maxRows {
			fmt.Fprintf(bw, "\n... %d more rows\n", len(r.Examples)-i)
			break
		}
		fmt.Fprintf(bw, "\nline %d: %d tokens, %d trained, prompt %d", e.Line, len(e.IDs), e.TrainedTokens(), e.PromptLen)
		if e.Truncated > 0 {
			fmt.Fprintf(bw, ", %d cut", e.Truncated)
		}
		fmt.Fprintf(bw, "\n%s\n", indent(Annotate(e, tok), "  "))
	}
	return bw.Flush()
}

func indent(s, prefix string) string {
	return prefix + strings.ReplaceAll(s, "\n", "\n"+prefix)
}
