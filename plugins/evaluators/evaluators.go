// Package evaluators is the evaluator plugin protocol of QwenTune: the
// Evaluator interface, the go-plugin handshake and plugin map, the gRPC glue
// generated from evaluator.proto and Serve for plugin binaries. The host
// side, which finds, verifies and runs them, is the sub-package host, so a
// plugin binary links none of it.
//
// An evaluator is a separate executable named qwentune-eval-<name>. Each one
// is a tiny main package calling Serve, so anyone can add an evaluator
// without forking the app. This package depends on nothing else of ours.
package evaluators

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/hashicorp/go-plugin"
)

// PluginName is the name under which every evaluator binary serves its
// Evaluator in PluginMap.
const PluginName = "evaluator"

// BinaryPrefix starts the file name of every evaluator executable.
const BinaryPrefix = "qwentune-eval-"

// Handshake is the go-plugin handshake shared by the host and every
// evaluator. ProtocolVersion changes when evaluator.proto changes
// incompatibly; the magic cookie only tells a user who runs a plugin by hand
// that it is not meant to be run directly.
var Handshake = plugin.HandshakeConfig{
	ProtocolVersion:  1,
	MagicCookieKey:   "QWENTUNE_EVALUATOR_PLUGIN",
	MagicCookieValue: "7f3c1e0a-qwentune-evaluator",
}

// PluginMap is the set of plugins a host can dispense from an evaluator
// binary.
var PluginMap = map[string]plugin.Plugin{
	PluginName: &GRPCPlugin{},
}

// Evaluator judges model outputs. Plugins implement it and hand it to Serve;
// the host's *host.Client implements it by calling the plugin over gRPC.
type Evaluator interface {
	// Info describes the evaluator.
	Info(ctx context.Context) (Info, error)
	// Configure replaces the settings; names not listed by Info are refused,
	// names left out take their default.
	Configure(ctx context.Context, settings map[string]string) error
	// Judge returns one verdict per sample, in order.
	Judge(ctx context.Context, samples []Sample) ([]Verdict, error)
}

// Info describes an evaluator.
type Info struct {
	// Name is the short machine name, e.g. "heuristic".
	Name string `json:"name"`
	// Version is the evaluator's version, e.g. "1.0.0".
	Version string `json:"version"`
	// Description is one sentence for the user.
	Description string `json:"description"`
	// Labels lists every label Judge can return, the positive one first.
	Labels []string `json:"labels"`
	// Settings lists what Configure accepts.
	Settings []Setting `json:"settings"`
}

// Setting describes one configurable value of an evaluator.
type Setting struct {
	// Name is the key passed to Configure.
	Name string `json:"name"`
	// Default is the value used when Configure leaves the setting out.
	Default string `json:"default"`
	// Description says what the setting does.
	Description string `json:"description"`
}

// Sample is one generated answer to judge.
type Sample struct {
	// ID identifies the sample within a run; the verdict echoes it.
	ID string `json:"id"`
	// Input is the prompt given to the model.
	Input string `json:"input"`
	// Output is what the model generated.
	Output string `json:"output"`
	// Reference is the reference answer, empty when there is none.
	Reference string `json:"reference,omitempty"`
	// ExpectedLabel is the label the test set expects.
	ExpectedLabel string `json:"expected_label"`
}

// Verdict is an evaluator's judgement of one sample.
type Verdict struct {
	// ID is the ID of the sample judged.
	ID string `json:"id"`
	// Label is one of the labels listed by Info.
	Label string `json:"label"`
	// Score is a confidence or quality in [0, 1].
	Score float64 `json:"score"`
	// Reason explains the verdict to the user.
	Reason string `json:"reason"`
}

// Resolve checks settings against the evaluator's declared specs and returns
// the complete settings: every declared name, with the given value or the
// default. Unknown names are an error naming the valid ones. Evaluators call
// it at the start of Configure.
func Resolve(specs []Setting, settings map[string]string) (map[string]string, error) {
	var unknown []string
	for name := range settings {
		if !slices.ContainsFunc(specs, func(s Setting) bool { return s.Name == name }) {
			unknown = append(unknown, name)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		valid := make([]string, len(specs))
		for i, s := range specs {
			valid[i] = s.Name
		}
		return nil, fmt.Errorf("unknown setting %s (valid: %s)", strings.Join(quoteAll(unknown), ", "), strings.Join(valid, ", "))
	}
	out := make(map[string]string, len(specs))
	for _, s := range specs {
		v, ok := settings[s.Name]
		if !ok {
			v = s.Default
		}
		out[s.Name] = v
	}
	return out, nil
}

func quoteAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = fmt.Sprintf("%q", s)
	}
	return out
}
