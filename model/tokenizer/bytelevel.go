package tokenizer

// GPT-2's byte-level alphabet: every byte gets a printable stand-in rune so that byte strings can be
// stored as vocabulary strings. Bytes 33–126, 161–172 and 174–255 stand for themselves; the other 68
// bytes map to 256, 257, … in increasing byte order.
var (
	byteToRune [256]rune
	runeToByte = make(map[rune]byte, 256)
)

func init() {
	next := rune(256)
	for b := 0; b < 256; b++ {
		if (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255) {
			byteToRune[b] = rune(b)
		} else {
			byteToRune[b] = next
			next++
		}
		runeToByte[byteToRune[b]] = byte(b)
	}
}

// byteLevelEncode maps raw bytes to their byte-level string.
func byteLevelEncode(raw string) string {
	rs := make([]rune, len(raw))
	for i := 0; i < len(raw); i++ {
		rs[i] = byteToRune[raw[i]]
	}
	return string(rs)
}

// byteLevelDecode inverts byteLevelEncode. Like the Hugging Face ByteLevel decoder, a token holding a
// rune outside the byte-level alphabet (an added token such as a CJK word) is kept as its UTF-8 bytes.
func byteLevelDecode(tok string) []byte {
	out := make([]byte, 0, len(tok))
	for _, r := range tok {
		b, ok := runeToByte[r]
		if !ok {
			return []byte(tok)
		}
		out = append(out, b)
	}
	return out
}
