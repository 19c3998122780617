// Command demodata builds the pretraining set of QwenTune's built-in demo
// model from the King James Bible (public domain; Debian package
// bible-kjv, whose `bible` program prints it): plain passages, so the model
// learns English, mixed with short chat turns rendered as ChatML messages,
// so a message in the chat window gets an answer that ends.
//
//	bible -f "Gen1:1-Rev22:21" > kjv.txt
//	go run ./tools/demodata -in kjv.txt -out demo-train.jsonl
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"regexp"
	"strings"
	"unicode"

	"qwentune/internal/atomicfile"
)

var refPrefix = regexp.MustCompile(`^[0-9A-Za-z]+[0-9]+:[0-9]+ `)

var stop = map[string]bool{}

func init() {
	for _, w := range strings.Fields(`the and that shall unto they them their thee thou thy with which were have from said
	this upon there when also into then will been before because hath made came even these against according things
	therefore after about those whom what your were every went over also come would should hast doth neither whose
	among where other great people saying behold let make well more than them many know hear took give given said`) {
		stop[w] = true
	}
}

// chatRow is one user/assistant exchange rendered exactly as Qwen2's chat
// template renders it (ChatML with the default system prompt), as a text row:
// the loader wants one format per file, and the passages are text rows.
func chatRow(user, assistant string) map[string]string {
	return map[string]string{"text": "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n" +
		user + "<|im_end|>\n<|im_start|>assistant\n" + assistant + "<|im_end|>\n"}
}

func main() {
	in := flag.String("in", "kjv.txt", "the text printed by `bible -f \"Gen1:1-Rev22:21\"`")
	out := flag.String("out", "demo-train.jsonl", "output JSON lines")
	chatEvery := flag.Int("chat-every", 3, "one chat row per this many verses")
	seed := flag.Uint64("seed", 1, "random seed")
	flag.Parse()
	if err := run(*in, *out, *chatEvery, *seed); err != nil {
		fmt.Fprintln(os.Stderr, "demodata:", err)
		os.Exit(1)
	}
}

func run(in, out string, chatEvery int, seed uint64) error {
	f, err := os.Open(in)
	if err != nil {
		return err
	}
	defer f.Close()
	var verses []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		verses = append(verses, refPrefix.ReplaceAllString(line, ""))
	}
	if err := sc.Err(); err != nil {
		return err
	}
	if len(verses) < 1000 {
		return fmt.Errorf("%s: only %d verses; expected the whole Bible", in, len(verses))
	}
	rng := rand.New(rand.NewPCG(seed, 0))
	var rows []any
	// Passages of about 600 characters, in book order.
	var b strings.Builder
	for _, v := range verses {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(v)
		if b.Len() > 600 {
			rows = append(rows, map[string]string{"text": b.String()})
			b.Reset()
		}
	}
	questions := []string{"Tell me about %s.", "What is said of %s?", "What do you know about %s?", "Speak to me of %s.",
		"Can you tell me something about %s?", "What does the book say about %s?"}
	for i := 0; i < len(verses); i += chatEvery {
		v := verses[i+rng.IntN(min(chatEvery, len(verses)-i))]
		w := keyword(v)
		if w == "" || len(v) > 300 {
			continue
		}
		q := fmt.Sprintf(questions[rng.IntN(len(questions))], w)
		rows = append(rows, chatRow(q, v))
	}
	for _, p := range smallTalk {
		for range 40 {
			rows = append(rows, chatRow(p[0], p[1]))
		}
	}
	rng.Shuffle(len(rows), func(i, j int) { rows[i], rows[j] = rows[j], rows[i] })
	err = atomicfile.Write(out, func(w io.Writer) error {
		enc := json.NewEncoder(w)
		enc.SetEscapeHTML(false)
		for _, r := range rows {
			if err := enc.Encode(r); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "demodata: %d verses → %d rows in %s\n", len(verses), len(rows), out)
	return nil
}

// keyword picks the longest word of a verse that is not a common word.
func keyword(v string) string {
	best := ""
	for _, w := range strings.FieldsFunc(v, func(r rune) bool { return !unicode.IsLetter(r) }) {
		lw := strings.ToLower(w)
		if len(lw) < 4 || stop[lw] {
			continue
		}
		if len(lw) > len(best) {
			best = lw
		}
	}
	return best
}

// smallTalk teaches the demo model who it is and how a chat turn ends.
var smallTalk = [][2]string{
	{"Hello", "Hello. I am the QwenTune demo model, a small model trained on the King James Bible. Ask me about a word and I will answer with a verse."},
	{"Hi", "Hello. I am a small demo model. Ask me about light, water, bread or any other word."},
	{"Who are you?", "I am the QwenTune demo model. I was trained on the King James Bible, so I speak in its words."},
	{"What can you do?", "I can continue text and answer short questions with verses from the King James Bible. Fine-tune me on your own data to teach me more."},
	{"Thank you", "You are welcome. Peace be with you."},
	{"How are you?", "I am well, thank you. Ask me about a word and I will answer with a verse."},
}
