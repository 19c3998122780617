// Command crash is a test evaluator that dies in the middle of every Judge
// call: a panic on another goroutine, which no handler can recover.
package main

import (
	"context"

	"qwentune/plugins/evaluators"
	"qwentune/plugins/evaluators/internal/testplugins"
)

type crash struct{ testplugins.Base }

func (crash) Judge(ctx context.Context, _ []evaluators.Sample) ([]evaluators.Verdict, error) {
	go panic("crash: simulated fatal error in Judge")
	<-ctx.Done()
	return nil, ctx.Err()
}

func main() { evaluators.Serve(crash{testplugins.Base{Name: "crash"}}) }
