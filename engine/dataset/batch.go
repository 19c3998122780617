package dataset

import (
	"fmt"
	"math/rand/v2"
	"slices"

	"qwentune/engine/nn"
)

// Order is the order in which one epoch visits the examples: a permutation
// of 0..n-1 drawn from a generator seeded with (seed, epoch), so every epoch
// has its own order and a resumed run sees the same orders again (the
// Trainer's RandomSampler reseeded per epoch).
func Order(n int, seed int64, epoch int) []int {
	r := rand.New(rand.NewPCG(uint64(seed), uint64(epoch)))
	return r.Perm(n)
}

// Batches cuts one epoch of examples into batches of batchSize rows in
// Order(len(ex), seed, epoch); the last batch may be smaller (the Trainer
// keeps it). Rows are padded on the right with padID to the longest row of
// the batch (padding "longest") or to maxLen (padding "max_length"; rows kept
// longer by truncation off set the width then).
//
// Padding is masked by position: Labels are -100 and Mask is false at the
// padded positions only. The original pipeline's collator instead set the
// label of every token equal to the pad id to -100; with pad = eos that
// masked every eos too, so the model never learned to stop. Here an eos in
// the data keeps its label.
//
// The returned slices are copies; the trainer may change them.
func Batches(ex []Example, batchSize int, padding string, maxLen, padID int, seed int64, epoch int) []nn.Batch {
	if batchSize < 1 {
		panic(fmt.Sprintf("data: batch size %d < 1", batchSize))
	}
	if padding != "longest" && padding != "max_length" {
		panic(fmt.Sprintf("data: unknown padding %q", padding))
	}
	order := Order(len(ex), seed, epoch)
	var out []nn.Batch
	for start := 0; start < len(order); start += batchSize {
		idx := order[start:min(start+batchSize, len(order))]
		width := 0
		for _, i := range idx {
			width = max(width, len(ex[i].IDs))
		}
		if padding == "max_length" {
			width = max(width, maxLen)
		}
		b := nn.Batch{
			IDs:    make([][]int, len(idx)),
			Labels: make([][]int, len(idx)),
			Mask:   make([][]bool, len(idx)),
		}
		for r, i := range idx {
			e := ex[i]
			n := len(e.IDs)
			b.IDs[r] = slices.Grow(slices.Clone(e.IDs), width-n)[:width]
			b.Labels[r] = slices.Grow(slices.Clone(e.Labels), width-n)[:width]
			b.Mask[r] = make([]bool, width)
			for t := range width {
				if t < n {
					b.Mask[r][t] = true
					continue
				}
				b.IDs[r][t] = padID
				b.Labels[r][t] = nn.IgnoreIndex
			}
		}
		out = append(out, b)
	}
	return out
}

// Lints returns every row's lints plus the exact duplicates (rows whose
// rendered text and format equal an earlier row's), in line order.
func Lints(ex []Example) []Lint {
	var out []Lint
	first := map[string]int{}
	for _, e := range ex {
		out = append(out, e.Lints...)
		key := string(e.Format) + "\x00" + e.Text
		if line, dup := first[key]; dup {
			out = append(out, Lint{Line: e.Line, Kind: LintDuplicate,
				Message: fmt.Sprintf("duplicate of line %d", line)})
			continue
		}
		first[key] = e.Line
	}
	slices.SortStableFunc(out, func(a, b Lint) int { return a.Line - b.Line })
	return out
}
