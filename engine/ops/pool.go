package ops

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// task is a unit of work the pool splits over [0, n); run does chunk number
// part, [lo, hi). Implementations are pointer-shaped (a func value or a
// pointer) so that storing one in an interface does not allocate.
type task interface{ run(part, lo, hi int) }

// funcTask adapts the closure given to Parallel.
type funcTask func(lo, hi int)

func (f funcTask) run(_, lo, hi int) { f(lo, hi) }

// span is one chunk handed to a worker.
type span struct {
	t            task
	part, lo, hi int
}

// workerPool is a fixed set of goroutines started once. The goroutine that
// calls runLocked does the first chunk itself, so a pool of Threads()
// threads has Threads()-1 workers.
type workerPool struct {
	mu      sync.Mutex // held for the whole of one run; TryLock failing means "busy"
	threads int
	work    []chan span
	wg      sync.WaitGroup
}

var (
	pool     workerPool
	poolOnce sync.Once
)

func startPool() {
	pool.threads = max(runtime.GOMAXPROCS(0), 1)
	pool.work = make([]chan span, pool.threads-1)
	for i := range pool.work {
		ch := make(chan span, 1)
		pool.work[i] = ch
		go func() {
			for s := range ch {
				s.t.run(s.part, s.lo, s.hi)
				pool.wg.Done()
			}
		}()
	}
}

// Threads is the number of threads Parallel and the streaming kernels split
// work into: GOMAXPROCS when the package first ran parallel work.
func Threads() int {
	poolOnce.Do(startPool)
	return pool.threads
}

// Parallel runs fn over [0, n) split into contiguous chunks, one per thread,
// and waits for all of them. The calling goroutine runs the first chunk.
//
// Parallel itself does not allocate: the chunks go to persistent worker
// goroutines. A closure that captures variables is heap-allocated by the
// caller, so per-token loops should build fn once and reuse it. A nested or
// concurrent call (while the pool is busy) runs fn(0, n) on the caller.
// A panic in fn on a worker ends the program.
func Parallel(n int, fn func(lo, hi int)) {
	if n <= 0 {
		return
	}
	if !acquirePool() {
		fn(0, n)
		return
	}
	runLocked(funcTask(fn), n, 1)
	pool.mu.Unlock()
}

// acquirePool takes the pool for one run, reporting false when there is
// only one thread or the pool is busy (a nested or concurrent call); the
// caller then does the work itself. On true the caller must run at most one
// runLocked at a time and unlock pool.mu when done.
func acquirePool() bool {
	return Threads() > 1 && pool.mu.TryLock()
}

// runLocked splits [0, n) into at most Threads() chunks whose boundaries
// are multiples of align (the last ends at n), runs them on the pool, waits
// and returns the number of chunks.
func runLocked(t task, n, align int) int {
	blocks := (n + align - 1) / align
	parts := min(pool.threads, blocks)
	if parts <= 1 {
		t.run(0, 0, n)
		return 1
	}
	bound := func(i int) int { return min(i*blocks/parts*align, n) }
	pool.wg.Add(parts - 1)
	for i := 1; i < parts; i++ {
		pool.work[i-1] <- span{t, i, bound(i), bound(i + 1)}
	}
	t.run(0, 0, bound(1))
	pool.wg.Wait()
	return parts
}

// runOn runs t over [0, n) on the pool when the caller holds it (see
// runLocked), and on the caller alone otherwise.
func runOn(locked bool, t task, n, align int) {
	if locked {
		runLocked(t, n, align)
	} else {
		t.run(0, 0, n)
	}
}

// dynamicTask hands out [0, n) in chunks from a shared counter: each thread
// takes the next chunk when it finishes one, so a thread that runs slower
// (a virtual CPU the host is also using, a cache miss storm) takes fewer
// chunks instead of making the others wait for its fixed share at the end.
type dynamicTask struct {
	t        task
	n, chunk int
	next     atomic.Int64
}

func (d *dynamicTask) run(part, _, _ int) {
	for {
		lo := int(d.next.Add(int64(d.chunk))) - d.chunk
		if lo >= d.n {
			return
		}
		d.t.run(part, lo, min(lo+d.chunk, d.n))
	}
}

// dynamic is the one dynamicTask, reused under pool.mu.
var dynamic dynamicTask

// runDynamic runs t over [0, n) in chunks of chunk that the pool's threads
// take in turn (see dynamicTask); part is the thread's number. The caller
// holds the pool, as for runLocked.
func runDynamic(t task, n, chunk int) {
	chunk = max(chunk, 1)
	if n <= chunk {
		t.run(0, 0, n)
		return
	}
	dynamic.t, dynamic.n, dynamic.chunk = t, n, chunk
	dynamic.next.Store(0)
	runLocked(&dynamic, min(pool.threads, (n+chunk-1)/chunk), 1)
	dynamic.t = nil
}
