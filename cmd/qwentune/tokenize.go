package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"qwentune/model/tokenizer"
)

func init() {
	register(&command{name: "tokenize", summary: "encode JSON lines {\"text\"} to {\"ids\"} (or --decode the reverse)",
		usage: "--tokenizer PATH [--decode] < in.jsonl",
		example: `echo '{"text": "Hello, world!"}' | qwentune tokenize --tokenizer ./my-model
echo '{"ids": [9707, 11, 1879, 0]}' | qwentune tokenize --tokenizer ./my-model --decode`,
		run: runTokenize})
}

// runTokenize is `qwentune tokenize`: JSON lines of text to token ids, or
// back with --decode.
func runTokenize(ctx context.Context, fs *flag.FlagSet, args []string) error {
	path := fs.String("tokenizer", "", "a model folder or a tokenizer.json (\"builtin\" for the built-in 8192-token tokenizer)")
	decode := fs.Bool("decode", false, "read {\"ids\": [...]} lines and write {\"text\": ...}")
	skip := fs.Bool("skip-special", false, "with --decode, leave special tokens out of the text")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *path == "" {
		return usagef("--tokenizer is required")
	}
	var tok *tokenizer.Tokenizer
	if *path == "builtin" {
		tok = tokenizer.Builtin()
	} else {
		var err error
		if tok, err = tokenizer.Load(*path); err != nil {
			return err
		}
	}
	return tokenizeStream(os.Stdin, stdout, tok, *decode, *skip)
}

// tokenizeStream converts every line of in, naming stdin's line in its errors.
func tokenizeStream(in io.Reader, out io.Writer, tok *tokenizer.Tokenizer, decode, skip bool) error {
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 1<<20), 1<<30)
	w := bufio.NewWriter(out)
	defer w.Flush()
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	line := 0
	for sc.Scan() {
		line++
		b := sc.Bytes()
		if len(strings.TrimSpace(string(b))) == 0 {
			continue
		}
		if decode {
			var row struct {
				IDs *[]int `json:"ids"`
			}
			if err := json.Unmarshal(b, &row); err != nil || row.IDs == nil {
				return fmt.Errorf("stdin:%d: want {\"ids\": [...]}: %v", line, errOr(err, "missing \"ids\""))
			}
			for _, id := range *row.IDs {
				if id < 0 || id >= tok.VocabSize() {
					return fmt.Errorf("stdin:%d: \"ids\": %d is outside the vocabulary (0..%d)", line, id, tok.VocabSize()-1)
				}
			}
			if err := enc.Encode(map[string]string{"text": tok.Decode(*row.IDs, skip)}); err != nil {
				return err
			}
			continue
		}
		var row struct {
			Text *string `json:"text"`
		}
		if err := json.Unmarshal(b, &row); err != nil || row.Text == nil {
			return fmt.Errorf("stdin:%d: want {\"text\": \"...\"}: %v", line, errOr(err, "missing \"text\""))
		}
		ids := tok.Encode(*row.Text)
		if ids == nil {
			ids = []int{}
		}
		if err := enc.Encode(map[string][]int{"ids": ids}); err != nil {
			return err
		}
	}
	return sc.Err()
}

// errOr is err's message, or msg when err is nil.
func errOr(err error, msg string) string {
	if err != nil {
		return err.Error()
	}
	return msg
}
