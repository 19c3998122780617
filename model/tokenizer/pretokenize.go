package tokenizer

import (
	"unicode"
	"unicode/utf8"
)

// splitWords cuts s into the pieces Qwen2's Split pre-tokenizer produces with the pattern
//
//	(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
//
// and calls emit for each, in order. The pieces cover s exactly. RE2 has no lookahead, so the
// alternatives are written out by hand; at each position they are tried in order and the first that
// matches wins, as in a backtracking regex engine.
func splitWords(s string, emit func(piece string)) {
	for i := 0; i < len(s); {
		j := matchWord(s, i)
		emit(s[i:j])
		i = j
	}
}

// matchWord returns the end of the piece that starts at byte offset i (i < len(s)).
func matchWord(s string, i int) int {
	r, w := utf8.DecodeRuneInString(s[i:])

	// (?i:'s|'t|'re|'ve|'m|'ll|'d)
	if r == '\'' {
		if n := contraction(s[i+1:]); n > 0 {
			return i + 1 + n
		}
	}

	// [^\r\n\p{L}\p{N}]?\p{L}+
	if isLetter(r) {
		return letterRunEnd(s, i+w)
	}
	if r != '\r' && r != '\n' && !isNumber(r) && i+w < len(s) {
		if r2, w2 := utf8.DecodeRuneInString(s[i+w:]); isLetter(r2) {
			return letterRunEnd(s, i+w+w2)
		}
	}

	// \p{N}
	if isNumber(r) {
		return i + w
	}

	// ` ?[^\s\p{L}\p{N}]+[\r\n]*`
	start := -1
	if isOther(r) {
		start = i
	} else if r == ' ' && i+w < len(s) {
		if r2, _ := utf8.DecodeRuneInString(s[i+w:]); isOther(r2) {
			start = i + w
		}
	}
	if start >= 0 {
		j := start
		for j < len(s) {
			r2, w2 := utf8.DecodeRuneInString(s[j:])
			if !isOther(r2) {
				break
			}
			j += w2
		}
		for j < len(s) && (s[j] == '\r' || s[j] == '\n') {
			j++
		}
		return j
	}

	// What is left starts with white space: \s*[\r\n]+ | \s+(?!\S) | \s+
	end, lastBreak, lastStart, runes := i, -1, i, 0
	for end < len(s) {
		r2, w2 := utf8.DecodeRuneInString(s[end:])
		if !unicode.IsSpace(r2) {
			break
		}
		lastStart = end
		end += w2
		runes++
		if r2 == '\r' || r2 == '\n' {
			lastBreak = end
		}
	}
	switch {
	case lastBreak >= 0: // \s*[\r\n]+ ends at the run's last line break
		return lastBreak
	case end == len(s): // \s+(?!\S) at the end of the text takes it all
		return end
	case runes >= 2: // \s+(?!\S) leaves the space before the next word to that word
		return lastStart
	default: // \s+
		return end
	}
}

// contraction returns the length of the contraction suffix ('s, 't, 're, 've, 'm, 'll, 'd without the
// apostrophe, ASCII case-insensitive) that s starts with, or 0.
func contraction(s string) int {
	lower := func(k int) byte {
		if k >= len(s) {
			return 0
		}
		return s[k] | 0x20 // ASCII letters only; other bytes never compare equal below
	}
	switch lower(0) {
	case 's', 't', 'm', 'd':
		return 1
	case 'r':
		if lower(1) == 'e' {
			return 2
		}
	case 'v':
		if lower(1) == 'e' {
			return 2
		}
	case 'l':
		if lower(1) == 'l' {
			return 2
		}
	}
	return 0
}

// letterRunEnd returns the end of the run of letters starting at byte offset j.
func letterRunEnd(s string, j int) int {
	for j < len(s) {
		if c := s[j]; c < utf8.RuneSelf {
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
				return j
			}
			j++
			continue
		}
		r, w := utf8.DecodeRuneInString(s[j:])
		if !unicode.IsLetter(r) {
			return j
		}
		j += w
	}
	return j
}

// isLetter is \p{L}: combining marks are not letters.
func isLetter(r rune) bool {
	if r < utf8.RuneSelf {
		return 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z'
	}
	return unicode.IsLetter(r)
}

// isNumber is \p{N}.
func isNumber(r rune) bool {
	if r < utf8.RuneSelf {
		return '0' <= r && r <= '9'
	}
	return unicode.IsNumber(r)
}

// isOther is [^\s\p{L}\p{N}]; \s is Unicode White_Space as unicode.IsSpace defines it.
func isOther(r rune) bool {
	return !unicode.IsSpace(r) && !isLetter(r) && !isNumber(r)
}
