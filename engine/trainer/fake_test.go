package trainer

import (
	"math"
	"math/rand/v2"
	"sync"

	"qwentune/engine/nn"
	"qwentune/engine/progress"
)

// bigram is the fake model of the tests: logits(t) = keep·W[id_t] + b, a
// softmax cross-entropy on the shifted labels, with "dropout" on the W term
// drawn from the seed. Its gradients are exact, so the loop can be checked
// independently of the real transformer.
type bigram struct {
	V       int
	W, B    *nn.Param
	dropout float64

	mu      sync.Mutex
	calls   []float64 // lossSum of every ForwardBackward call, in order
	seeds   []uint64
	hook    func(call int) // called after each call with its 1-based number
	nanAt   int            // return a NaN loss on this call (1-based), 0 never
	infGrad int            // put an Inf gradient on this call, 0 never
}

func newBigram(v int, seed uint64, dropout float64) *bigram {
	rng := rand.New(rand.NewPCG(seed, 1))
	w := &nn.Param{Name: "w.weight", Shape: []int{v, v}, Data: make([]float32, v*v), Grad: make([]float32, v*v), Decay: true}
	b := &nn.Param{Name: "w.bias", Shape: []int{v}, Data: make([]float32, v), Grad: make([]float32, v)}
	for i := range w.Data {
		w.Data[i] = float32(rng.NormFloat64() * 0.5)
	}
	for i := range b.Data {
		b.Data[i] = float32(rng.NormFloat64() * 0.1)
	}
	return &bigram{V: v, W: w, B: b, dropout: dropout}
}

func (m *bigram) params() []*nn.Param { return []*nn.Param{m.W, m.B} }

func (m *bigram) ForwardBackward(b nn.Batch, scale float32, seed uint64) (float64, int, error) {
	m.mu.Lock()
	call := len(m.calls) + 1
	m.mu.Unlock()
	loss, n := m.lossGrad(b, float64(scale), seed, true)
	if call == m.nanAt {
		loss = math.NaN()
	}
	if call == m.infGrad {
		m.W.Grad[0] = float32(math.Inf(1))
	}
	m.mu.Lock()
	m.calls = append(m.calls, loss)
	m.seeds = append(m.seeds, seed)
	m.mu.Unlock()
	if m.hook != nil {
		m.hook(call)
	}
	return loss, n, nil
}

// lossGrad returns the summed token loss and counted tokens of b, adding
// scale·gradient when grad is set.
func (m *bigram) lossGrad(b nn.Batch, scale float64, seed uint64, grad bool) (float64, int) {
	rng := rand.New(rand.NewPCG(seed, 7))
	logits := make([]float64, m.V)
	var loss float64
	n := 0
	for i, ids := range b.IDs {
		for t := 0; t+1 < len(ids); t++ {
			y := b.Labels[i][t+1]
			if y == nn.IgnoreIndex {
				continue
			}
			keep := 1.0
			if m.dropout > 0 {
				if rng.Float64() < m.dropout {
					keep = 0
				} else {
					keep = 1 / (1 - m.dropout)
				}
			}
			x := ids[t]
			mx := math.Inf(-1)
			for v := range logits {
				logits[v] = keep*float64(m.W.Data[x*m.V+v]) + float64(m.B.Data[v])
				mx = math.Max(mx, logits[v])
			}
			var z float64
			for _, l := range logits {
				z += math.Exp(l - mx)
			}
			lse := mx + math.Log(z)
			loss += lse - logits[y]
			n++
			if !grad {
				continue
			}
			for v, l := range logits {
				d := math.Exp(l - lse)
				if v == y {
					d--
				}
				m.W.Grad[x*m.V+v] += float32(scale * keep * d)
				m.B.Grad[v] += float32(scale * d)
			}
		}
	}
	return loss, n
}

// callLosses returns a copy of the recorded per-call losses.
func (m *bigram) callLosses() []float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]float64(nil), m.calls...)
}

// makeRows returns n rows over vocabulary v with lengths 2…7; the first
// token of odd rows is a "prompt" whose label is -100.
func makeRows(n, v int, seed uint64) (ids, labels [][]int) {
	rng := rand.New(rand.NewPCG(seed, 3))
	for i := 0; i < n; i++ {
		l := 2 + rng.IntN(6)
		row := make([]int, l)
		lab := make([]int, l)
		for t := range row {
			row[t] = rng.IntN(v)
			lab[t] = row[t]
		}
		if i%2 == 1 {
			lab[0], lab[1] = nn.IgnoreIndex, nn.IgnoreIndex
		}
		ids = append(ids, row)
		labels = append(labels, lab)
	}
	return ids, labels
}

// batchesOf groups rows into micro-batches of size rows, padding with id 0,
// label -100 and mask false.
func batchesOf(ids, labels [][]int, size int) []nn.Batch {
	var out []nn.Batch
	for i := 0; i < len(ids); i += size {
		j := min(i+size, len(ids))
		longest := 0
		for _, r := range ids[i:j] {
			longest = max(longest, len(r))
		}
		var b nn.Batch
		for k := i; k < j; k++ {
			row := make([]int, longest)
			lab := make([]int, longest)
			mask := make([]bool, longest)
			for t := range row {
				lab[t] = nn.IgnoreIndex
				if t < len(ids[k]) {
					row[t], lab[t], mask[t] = ids[k][t], labels[k][t], true
				}
			}
			b.IDs = append(b.IDs, row)
			b.Labels = append(b.Labels, lab)
			b.Mask = append(b.Mask, mask)
		}
		out = append(out, b)
	}
	return out
}

// shuffled returns a Batches function that permutes the rows per epoch
// (deterministically) and groups them into micro-batches of size.
func shuffled(ids, labels [][]int, size int) func(epoch int) []nn.Batch {
	return func(epoch int) []nn.Batch {
		rng := rand.New(rand.NewPCG(uint64(epoch), 11))
		perm := rng.Perm(len(ids))
		pi := make([][]int, len(ids))
		pl := make([][]int, len(ids))
		for i, p := range perm {
			pi[i], pl[i] = ids[p], labels[p]
		}
		return batchesOf(pi, pl, size)
	}
}

// send delivers events into ch, blocking the trainer's emitter (never its
// loop) while ch is full.
func send(ch chan<- progress.Event) progress.Func {
	return func(ev progress.Event) { ch <- ev }
}
