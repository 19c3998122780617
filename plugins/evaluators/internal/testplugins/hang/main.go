// Command hang is a test evaluator whose Judge never returns and ignores
// cancellation.
package main

import (
	"context"
	"time"

	"qwentune/plugins/evaluators"
	"qwentune/plugins/evaluators/internal/testplugins"
)

type hang struct{ testplugins.Base }

func (hang) Judge(context.Context, []evaluators.Sample) ([]evaluators.Verdict, error) {
	time.Sleep(24 * time.Hour)
	return nil, nil
}

func main() { evaluators.Serve(hang{testplugins.Base{Name: "hang"}}) }
