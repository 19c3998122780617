package nn

import "qwentune/engine/ops"

// Dropout masks come from a counter-based generator: the keep decision for
// element e of the input of projection t in layer l is a pure function of
// (seed, l, t, e). A training step therefore reproduces exactly from its
// seed, whether or not activations are recomputed, and resuming a run needs
// only the step's seed.

// splitmix64 is the finaliser of SplitMix64, a bijective 64-bit mixer.
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// dropoutKey is the stream key of one projection's dropout in one step.
func dropoutKey(seed uint64, layer int, t target) uint64 {
	return splitmix64(seed ^ splitmix64(uint64(layer)*uint64(numTargets)+uint64(t)+1))
}

// dropoutKeep reports whether element e survives dropout with rate p; it is
// the mask ops.Dropout applies (kept here for the tests' references).
func dropoutKeep(key uint64, e int, p float32) bool {
	u := float32(splitmix64(key+uint64(e)*0xd1b54a32d192ed03)>>40) * (1.0 / (1 << 24))
	return u >= p
}

// dropoutForward writes y[n] = x[n]·keep/(1−p), the inverted dropout of
// torch.nn.Dropout in training mode, keep being dropoutKeep(key, i, p). Its
// backward is the same map applied to the gradient (dropoutForward(dx, dy,
// …) with the same key). y may be x.
func dropoutForward(y, x []float32, n int, p float32, key uint64) {
	ops.Parallel(n, func(lo, hi int) {
		ops.Dropout(y[lo:hi], x[lo:hi], key, lo, p)
	})
}
