package jinja

// QwenTune's addition to this copy of github.com/ardanlabs/jinja v1.8.0
// (Apache-2.0, see LICENSE): limits, so that a model's chat template cannot
// overflow the Go stack, loop without end or grow memory without bound.

import (
	"context"
	"fmt"
)

// maxRange is the most items range() makes.
const maxRange = 1 << 20

// Limits bound one render; a zero field is no limit.
type Limits struct {
	MaxDepth int   // nested calls (macros, caller, builtins)
	MaxSize  int   // bytes of the output or of any string; items of any list
	MaxSteps int64 // nodes and expressions evaluated
}

// budget is what a render has used of its Limits.
type budget struct {
	ctx   context.Context
	lim   Limits
	steps int64
	depth int
}

func (b *budget) step() error {
	if b == nil {
		return nil
	}
	b.steps++
	if b.lim.MaxSteps > 0 && b.steps > b.lim.MaxSteps {
		return fmt.Errorf("more than %d steps: the template does too much work (a loop without end?)", b.lim.MaxSteps)
	}
	if b.steps&255 == 0 && b.ctx != nil {
		if err := b.ctx.Err(); err != nil {
			return fmt.Errorf("rendering stopped: %w", err)
		}
	}
	return nil
}

func (b *budget) size(what string, n int) error {
	if b == nil || b.lim.MaxSize <= 0 || n <= b.lim.MaxSize {
		return nil
	}
	return fmt.Errorf("%s of %d exceeds the limit of %d", what, n, b.lim.MaxSize)
}

func (b *budget) enter(name string) error {
	if b == nil {
		return nil
	}
	b.depth++
	if b.lim.MaxDepth > 0 && b.depth > b.lim.MaxDepth {
		b.depth--
		return fmt.Errorf("%s: calls nested more than %d deep (a recursive macro?)", name, b.lim.MaxDepth)
	}
	return nil
}

func (b *budget) leave() {
	if b != nil {
		b.depth--
	}
}
