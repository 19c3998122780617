package trainer

import (
	"context"
	"sync"

	"qwentune/engine/progress"
)

// emitter hands events to the consumer's callback from its own goroutine so
// the training loop never waits on the consumer. Its queue is unbounded for
// the rare important events and holds at most one undelivered step event at
// its tail.
type emitter struct {
	out    progress.Func
	mu     sync.Mutex
	queue  []progress.Event
	wake   chan struct{}
	closed bool
	done   chan struct{}
}

// newEmitter starts the delivering goroutine; out may be nil, and then
// events are discarded.
func newEmitter(out progress.Func) *emitter {
	e := &emitter{out: out, wake: make(chan struct{}, 1), done: make(chan struct{})}
	if out == nil {
		close(e.done)
		return e
	}
	go e.forward()
	return e
}

// send queues ev without blocking.
func (e *emitter) send(ev progress.Event) {
	if e.out == nil {
		return
	}
	e.mu.Lock()
	if n := len(e.queue); ev.Kind == progress.Step && n > 0 && e.queue[n-1].Kind == progress.Step {
		e.queue[n-1] = ev
	} else {
		e.queue = append(e.queue, ev)
	}
	e.mu.Unlock()
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// close waits until every queued event has been delivered.
func (e *emitter) close() {
	if e.out == nil {
		return
	}
	e.mu.Lock()
	e.closed = true
	e.mu.Unlock()
	select {
	case e.wake <- struct{}{}:
	default:
	}
	<-e.done
}

func (e *emitter) forward() {
	defer close(e.done)
	for {
		e.mu.Lock()
		if len(e.queue) == 0 {
			closed := e.closed
			e.mu.Unlock()
			if closed {
				return
			}
			<-e.wake
			continue
		}
		ev := e.queue[0]
		e.queue = e.queue[1:]
		e.mu.Unlock()
		e.out(ev)
	}
}

// Control pauses, resumes and stops a run from another goroutine (a UI
// button). The zero value is not usable; call NewControl. Stop is final, so
// use a fresh Control for each run.
type Control struct {
	mu       sync.Mutex
	paused   bool
	resumed  chan struct{} // closed by Resume or Stop to release a paused run
	stop     chan struct{}
	stopOnce sync.Once
}

// NewControl returns a Control in the running state.
func NewControl() *Control {
	return &Control{resumed: make(chan struct{}), stop: make(chan struct{})}
}

// Pause holds the run in memory before its next micro-batch until Resume or
// Stop (or the run's context ends).
func (c *Control) Pause() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.paused {
		c.paused = true
		c.resumed = make(chan struct{})
	}
}

// Resume lets a paused run continue.
func (c *Control) Resume() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.paused {
		c.paused = false
		close(c.resumed)
	}
}

// Stop asks the run to save a checkpoint at its last finished step and
// return, exactly like cancelling its context.
func (c *Control) Stop() {
	c.stopOnce.Do(func() { close(c.stop) })
}

// Paused reports whether Pause is in effect.
func (c *Control) Paused() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.paused
}

// stopRequested reports whether the run must stop, through ctx or Stop.
func (c *Control) stopRequested(ctx context.Context) bool {
	if ctx.Err() != nil {
		return true
	}
	if c == nil {
		return false
	}
	select {
	case <-c.stop:
		return true
	default:
		return false
	}
}

// pauseChan returns a channel closed on Resume when paused, or nil.
func (c *Control) pauseChan() <-chan struct{} {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.paused {
		return nil
	}
	return c.resumed
}

// stopChan returns the channel closed by Stop (nil for a nil Control).
func (c *Control) stopChan() <-chan struct{} {
	if c == nil {
		return nil
	}
	return c.stop
}
