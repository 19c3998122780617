package dataset

import (
	"errors"
	"strings"
)

// byteTok is a byte-level test tokenizer: ids 0-255 are bytes, 256-258 the
// Qwen2 special tokens, matched in text before bytes. Its chat template is
// ChatML with Qwen2's default system message.
type byteTok struct {
	// unstable makes the template render a conversation differently from
	// its prefixes (it numbers the turns from the end).
	unstable bool
	// failAt makes ApplyChatTemplate fail on any message with this content.
	failAt string
}

const (
	eosID     = 256
	imStartID = 257
	imEndID   = 258
)

var specialText = []string{"<|endoftext|>", "<|im_start|>", "<|im_end|>"}

func (byteTok) Encode(s string) []int {
	var ids []int
outer:
	for i := 0; i < len(s); {
		for k, sp := range specialText {
			if strings.HasPrefix(s[i:], sp) {
				ids = append(ids, 256+k)
				i += len(sp)
				continue outer
			}
		}
		ids = append(ids, int(s[i]))
		i++
	}
	return ids
}

func (byteTok) Decode(ids []int, skipSpecial bool) string {
	var b strings.Builder
	for _, id := range ids {
		switch {
		case id >= 256 && id < 256+len(specialText):
			if !skipSpecial {
				b.WriteString(specialText[id-256])
			}
		case id >= 0 && id < 256:
			b.WriteByte(byte(id))
		}
	}
	return b.String()
}

func (byteTok) EOS() int              { return eosID }
func (byteTok) Pad() int              { return eosID }
func (byteTok) IsSpecial(id int) bool { return id >= 256 }

func (t byteTok) ApplyChatTemplate(msgs []Message, gen bool) (string, error) {
	var b strings.Builder
	for i, m := range msgs {
		if t.failAt != "" && m.Content == t.failAt {
			return "", errors.New("template failed")
		}
		if i == 0 && m.Role != "system" {
			b.WriteString("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n")
		}
		role := m.Role
		if t.unstable {
			role += strings.Repeat("!", len(msgs)-i)
		}
		b.WriteString("<|im_start|>" + role + "\n" + m.Content + "<|im_end|>\n")
	}
	if gen {
		b.WriteString("<|im_start|>assistant\n")
	}
	return b.String(), nil
}
