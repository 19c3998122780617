package tokenizer

import (
	"math"
	"sort"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Encode turns text into token ids: added tokens first (leftmost-longest, never split), then for the
// text between them NFC, the Qwen2 split and byte-level BPE. No BOS or EOS is added.
func (t *Tokenizer) Encode(text string) []int {
	out := make([]int, 0, len(text)/3+1)
	appendID := func(id int) { out = append(out, id) }
	encodePlain := func(s string) {
		splitWords(s, func(w string) { out = t.encodeWord(w, out) })
	}
	t.rawAdded.split(text, func(seg string) {
		if !norm.NFC.IsNormalString(seg) {
			seg = norm.NFC.String(seg)
		}
		t.normAdded.split(seg, encodePlain, appendID)
	}, appendID)
	return out
}

// addedMatcher finds added tokens in text, leftmost-longest like the Hugging Face library's
// Aho-Corasick matcher.
type addedMatcher struct {
	first   [256]bool
	byFirst [256][]AddedToken // candidates by first byte, longest first
}

func newAddedMatcher(tokens []AddedToken) *addedMatcher {
	m := &addedMatcher{}
	for _, a := range tokens {
		b := a.Content[0]
		m.first[b] = true
		m.byFirst[b] = append(m.byFirst[b], a)
	}
	for b := range m.byFirst {
		sort.SliceStable(m.byFirst[b], func(i, j int) bool {
			return len(m.byFirst[b][i].Content) > len(m.byFirst[b][j].Content)
		})
	}
	return m
}

// split calls text for the stretches between added tokens (never empty) and token for each match.
func (m *addedMatcher) split(s string, text func(string), token func(int)) {
	prevEnd := 0
	for i := 0; i < len(s); {
		if !m.first[s[i]] {
			i++
			continue
		}
		var hit *AddedToken
		for k := range m.byFirst[s[i]] {
			if strings.HasPrefix(s[i:], m.byFirst[s[i]][k].Content) {
				hit = &m.byFirst[s[i]][k]
				break
			}
		}
		if hit == nil {
			i++
			continue
		}
		start, end := i, i+len(hit.Content)
		if hit.SingleWord && (endsWithWordChar(s[:start]) || startsWithWordChar(s[end:])) {
			i = end // the matcher resumes after a rejected match, as Aho-Corasick's iterator does
			continue
		}
		if hit.LStrip {
			start = max(len(strings.TrimRightFunc(s[:start], unicode.IsSpace)), prevEnd)
		}
		if hit.RStrip {
			end = len(s) - len(strings.TrimLeftFunc(s[end:], unicode.IsSpace))
		}
		if start > prevEnd {
			text(s[prevEnd:start])
		}
		token(hit.ID)
		prevEnd, i = end, end
	}
	if prevEnd < len(s) {
		text(s[prevEnd:])
	}
}

// isWordChar is the regex class \w: letters, marks, decimal digits, connector punctuation, joiners.
func isWordChar(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsMark(r) || unicode.IsDigit(r) ||
		unicode.Is(unicode.Pc, r) || r == '\u200c' || r == '\u200d'
}

func endsWithWordChar(s string) bool {
	r, _ := utf8.DecodeLastRuneInString(s)
	return s != "" && isWordChar(r)
}

func startsWithWordChar(s string) bool {
	r, _ := utf8.DecodeRuneInString(s)
	return s != "" && isWordChar(r)
}

// Word cache bounds: most text repeats a small set of words, and long words rarely repeat.
const (
	maxCachedWords   = 1 << 16
	maxCachedWordLen = 64
)

// wordCache remembers the BPE of pre-tokenized words. When full it is emptied and refilled.
type wordCache struct {
	mu sync.Mutex
	m  map[string][]int32
}

func (c *wordCache) get(w string) ([]int32, bool) {
	c.mu.Lock()
	ids, ok := c.m[w]
	c.mu.Unlock()
	return ids, ok
}

func (c *wordCache) put(w string, ids []int32) {
	c.mu.Lock()
	if c.m == nil || len(c.m) >= maxCachedWords {
		c.m = make(map[string][]int32, 1024)
	}
	c.m[strings.Clone(w)] = ids // the key must not pin the caller's text
	c.mu.Unlock()
}

// encodeWord appends the ids of one pre-tokenized word (raw bytes, before the byte-level mapping).
func (t *Tokenizer) encodeWord(w string, out []int) []int {
	cacheable := len(w) <= maxCachedWordLen
	if cacheable {
		if ids, ok := t.cache.get(w); ok {
			for _, id := range ids {
				out = append(out, int(id))
			}
			return out
		}
	}
	var ids []int32
	if id, ok := t.wholeWord(w); ok {
		ids = []int32{int32(id)}
	} else {
		ids = t.bpe(w, make([]int32, 0, len(w)))
	}
	if cacheable {
		t.cache.put(w, ids)
	}
	for _, id := range ids {
		out = append(out, int(id))
	}
	return out
}

// wholeWord implements ignore_merges: a word that is itself in the vocabulary is not merged.
func (t *Tokenizer) wholeWord(w string) (int, bool) {
	if !t.ignoreMerges {
		return 0, false
	}
	id, ok := t.vocab[byteLevelEncode(w)]
	return id, ok
}

// Words longer than this many symbols are merged with a heap instead of repeated scans.
const bpeScanLimit = 48

// bpe splits w into its bytes' symbols and repeatedly merges the adjacent pair of lowest rank (the
// leftmost on ties). Bytes without a symbol become unk, or are dropped when there is none.
func (t *Tokenizer) bpe(w string, syms []int32) []int32 {
	prevUnk := false
	for i := 0; i < len(w); i++ {
		id := t.byteID[w[i]]
		switch {
		case id >= 0:
			syms = append(syms, id)
			prevUnk = false
		case t.unk >= 0 && !(t.fuseUnk && prevUnk):
			syms = append(syms, int32(t.unk))
			prevUnk = true
		}
	}
	if len(syms) > bpeScanLimit {
		return t.bpeHeap(syms)
	}
	return t.bpeScan(syms)
}

// noRank marks a pair with no merge.
const noRank = math.MaxUint32

// pairRank returns the rank of merging a then b and the merged id.
func (t *Tokenizer) pairRank(a, b int32) (uint32, int32) {
	v, ok := t.ranks[uint64(a)<<32|uint64(b)]
	if !ok {
		return noRank, -1
	}
	return uint32(v >> 32), int32(uint32(v))
}

// bpeScan is BPE for short words: the ranks of all adjacent pairs are kept in an array and the
// lowest is found by a scan, O(n) per merge.
func (t *Tokenizer) bpeScan(syms []int32) []int32 {
	if len(syms) < 2 {
		return syms
	}
	var rankBuf [bpeScanLimit]uint32
	var idBuf [bpeScanLimit]int32
	ranks, merged := rankBuf[:len(syms)-1], idBuf[:len(syms)-1]
	for k := range ranks {
		ranks[k], merged[k] = t.pairRank(syms[k], syms[k+1])
	}
	for len(syms) > 1 {
		best := -1
		bestRank := uint32(noRank)
		for k, r := range ranks {
			if r < bestRank {
				best, bestRank = k, r
			}
		}
		if best < 0 {
			break
		}
		syms[best] = merged[best]
		syms = append(syms[:best+1], syms[best+2:]...)
		ranks = append(ranks[:best], ranks[best+1:]...)
		merged = append(merged[:best], merged[best+1:]...)
		if best > 0 {
			ranks[best-1], merged[best-1] = t.pairRank(syms[best-1], syms[best])
		}
		if best < len(ranks) {
			ranks[best], merged[best] = t.pairRank(syms[best], syms[best+1])
		}
	}
	return syms
}

// heapPair is a candidate merge of the symbol at pos with its right neighbour.
type heapPair struct {
	rank        uint32
	pos         int32
	left, right int32 // the ids when the pair was pushed; a changed id makes the entry stale
	merged      int32
}

func (a heapPair) less(b heapPair) bool {
	return a.rank < b.rank || (a.rank == b.rank && a.pos < b.pos)
}

// bpeHeap is BPE for long words, O(n log n): symbols form a linked list over their original
// positions and candidate pairs wait in a min-heap ordered by (rank, position).
func (t *Tokenizer) bpeHeap(syms []int32) []int32 {
	n := len(syms)
	if n < 2 {
		return syms
	}
	next := make([]int32, n)
	prev := make([]int32, n)
	for i := range syms {
		next[i], prev[i] = int32(i+1), int32(i-1)
	}
	next[n-1] = -1
	var h []heapPair
	push := func(pos int32) {
		r := next[pos]
		if pos < 0 || r < 0 {
			return
		}
		rank, id := t.pairRank(syms[pos], syms[r])
		if rank == noRank {
			return
		}
		h = append(h, heapPair{rank, pos, syms[pos], syms[r], id})
		for i := len(h) - 1; i > 0; {
			p := (i - 1) / 2
			if !h[i].less(h[p]) {
				break
			}
			h[i], h[p] = h[p], h[i]
			i = p
		}
	}
	pop := func() heapPair {
		top := h[0]
		last := len(h) - 1
		h[0] = h[last]
		h = h[:last]
		for i := 0; ; {
			l, r, m := 2*i+1, 2*i+2, i
			if l < len(h) && h[l].less(h[m]) {
				m = l
			}
			if r < len(h) && h[r].less(h[m]) {
				m = r
			}
			if m == i {
				break
			}
			h[i], h[m] = h[m], h[i]
			i = m
		}
		return top
	}
	alive := make([]bool, n)
	for i := range alive {
		alive[i] = true
	}
	for i := 0; i+1 < n; i++ {
		push(int32(i))
	}
	for len(h) > 0 {
		p := pop()
		r := next[p.pos]
		if !alive[p.pos] || r < 0 || syms[p.pos] != p.left || syms[r] != p.right {
			continue // stale: one side was merged since this pair was pushed
		}
		syms[p.pos] = p.merged
		alive[r] = false
		next[p.pos] = next[r]
		if next[r] >= 0 {
			prev[next[r]] = p.pos
		}
		if prev[p.pos] >= 0 {
			push(prev[p.pos])
		}
		push(p.pos)
	}
	out := syms[:0]
	for i := int32(0); i >= 0; i = next[i] {
		out = append(out, syms[i])
	}
	return out
}
