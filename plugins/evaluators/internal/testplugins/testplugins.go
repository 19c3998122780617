// Package testplugins holds misbehaving evaluator plugins, one main package
// per sub-folder, that the host tests run to prove a bad plugin cannot take
// the host down: crash exits during Judge, hang never answers Judge, garbage
// prints to stdout before the handshake, badversion speaks protocol 2, liar
// returns malformed verdicts. Base is the well-behaved part they share.
package testplugins

import (
	"context"

	"qwentune/plugins/evaluators"
)

// Base is an evaluator that says "ok" to everything.
type Base struct {
	// Name is reported by Info.
	Name string
}

// Info describes the test plugin.
func (b Base) Info(context.Context) (evaluators.Info, error) {
	return evaluators.Info{
		Name:        b.Name,
		Version:     "0.0.1",
		Description: "misbehaving test plugin " + b.Name,
		Labels:      []string{"ok", "not ok"},
	}, nil
}

// Configure accepts any settings.
func (Base) Configure(context.Context, map[string]string) error { return nil }

// Judge says "ok" with score 1 to every sample.
func (Base) Judge(_ context.Context, samples []evaluators.Sample) ([]evaluators.Verdict, error) {
	out := make([]evaluators.Verdict, len(samples))
	for i, s := range samples {
		out[i] = evaluators.Verdict{ID: s.ID, Label: "ok", Score: 1, Reason: "test"}
	}
	return out, nil
}
