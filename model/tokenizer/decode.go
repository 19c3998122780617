package tokenizer

import (
	"strings"
	"unicode/utf8"
)

// Decode turns ids back into text: each token's bytes (the byte-level mapping inverted) are joined
// and invalid UTF-8 becomes U+FFFD, one per maximal invalid subpart as in Rust's from_utf8_lossy.
// Special added tokens are kept unless skipSpecial; unknown ids are skipped.
func (t *Tokenizer) Decode(ids []int, skipSpecial bool) string {
	var buf []byte
	for _, id := range ids {
		buf = t.appendBytes(buf, id, skipSpecial)
	}
	return lossyString(buf)
}

func (t *Tokenizer) appendBytes(buf []byte, id int, skipSpecial bool) []byte {
	if id < 0 || id >= len(t.tokens) || (skipSpecial && t.IsSpecial(id)) {
		return buf
	}
	return append(buf, t.decBytes[t.decOff[id]:t.decOff[id+1]]...)
}

// StreamDecoder decodes ids one at a time, as a model generates them, and never emits half a UTF-8
// character: bytes that may still become a character wait for the next id. The concatenation of
// everything Add and Flush return equals Decode(ids, true): special tokens are left out.
type StreamDecoder struct {
	t       *Tokenizer
	pending []byte
}

// NewStreamDecoder returns a decoder with nothing pending.
func (t *Tokenizer) NewStreamDecoder() *StreamDecoder { return &StreamDecoder{t: t} }

// Add decodes one more id and returns the text that is now complete (possibly "").
func (d *StreamDecoder) Add(id int) string {
	d.pending = d.t.appendBytes(d.pending, id, true)
	cut := completePrefix(d.pending)
	out := lossyString(d.pending[:cut])
	d.pending = append(d.pending[:0], d.pending[cut:]...)
	return out
}

// Flush returns whatever is pending, an unfinished character as U+FFFD, and resets the decoder.
func (d *StreamDecoder) Flush() string {
	out := lossyString(d.pending)
	d.pending = d.pending[:0]
	return out
}

// completePrefix returns the length of b without a trailing unfinished UTF-8 sequence: one that is a
// valid start of a character but too short.
func completePrefix(b []byte) int {
	for k := 1; k <= 3 && k <= len(b); k++ {
		c := b[len(b)-k]
		if c < 0x80 {
			return len(b)
		}
		if c >= 0xC0 { // a lead byte (or an invalid one): is the tail an unfinished character?
			tail := b[len(b)-k:]
			if validPrefixLen(tail) == k && k < seqLen(c) {
				return len(b) - k
			}
			return len(b)
		}
	}
	return len(b)
}

// seqLen is the length of the sequence lead byte c starts (0 if c cannot start one).
func seqLen(c byte) int {
	switch {
	case c < 0x80:
		return 1
	case c >= 0xC2 && c <= 0xDF:
		return 2
	case c >= 0xE0 && c <= 0xEF:
		return 3
	case c >= 0xF0 && c <= 0xF4:
		return 4
	}
	return 0
}

// validPrefixLen returns how many leading bytes of b (at most one character's worth) are a valid
// prefix of a UTF-8 sequence, following the well-formed byte ranges of Unicode Table 3-7.
func validPrefixLen(b []byte) int {
	n := seqLen(b[0])
	if n == 0 {
		return 0
	}
	lo, hi := byte(0x80), byte(0xBF)
	switch b[0] {
	case 0xE0:
		lo = 0xA0
	case 0xED:
		hi = 0x9F
	case 0xF0:
		lo = 0x90
	case 0xF4:
		hi = 0x8F
	}
	k := 1
	for ; k < n && k < len(b); k++ {
		if b[k] < lo || b[k] > hi {
			break
		}
		lo, hi = 0x80, 0xBF
	}
	return k
}

// lossyString converts b to a string, replacing each maximal invalid subpart with U+FFFD.
func lossyString(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	var sb strings.Builder
	sb.Grow(len(b) + 8)
	for len(b) > 0 {
		r, w := utf8.DecodeRune(b)
		if r != utf8.RuneError || w > 1 {
			sb.Write(b[:w])
			b = b[w:]
			continue
		}
		sb.WriteRune(utf8.RuneError)
		b = b[max(1, validPrefixLen(b)):]
	}
	return sb.String()
}
