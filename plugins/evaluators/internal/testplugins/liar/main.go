// Command liar is a test evaluator whose verdicts break the protocol's
// promises; the sample's input selects the lie: "count" (one verdict too
// many), "score" (score 2), "nan" (score NaN), "label" (an undeclared
// label), "id" (another sample's id), "error" (Judge fails), "panic"
// (Judge panics).
package main

import (
	"context"
	"errors"
	"math"

	"qwentune/plugins/evaluators"
	"qwentune/plugins/evaluators/internal/testplugins"
)

type liar struct{ testplugins.Base }

func (l liar) Judge(ctx context.Context, samples []evaluators.Sample) ([]evaluators.Verdict, error) {
	out, _ := l.Base.Judge(ctx, samples)
	for i, s := range samples {
		switch s.Input {
		case "count":
			out = append(out, out[i])
		case "score":
			out[i].Score = 2
		case "nan":
			out[i].Score = math.NaN()
		case "label":
			out[i].Label = "maybe"
		case "id":
			out[i].ID = "someone-else"
		case "error":
			return nil, errors.New("liar: cannot judge today")
		case "panic":
			panic("liar: panicking on purpose")
		}
	}
	return out, nil
}

func main() { evaluators.Serve(liar{testplugins.Base{Name: "liar"}}) }
