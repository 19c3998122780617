package main

import (
	"bytes"
	"sort"
	"testing"
)

// TestBadFlagsExitTwo: every command exits 2 (usage) on a flag it does not
// know, and on bad flag values; generate's used to exit 1.
func TestBadFlagsExitTwo(t *testing.T) {
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	if len(names) < 10 {
		t.Fatalf("only %d commands registered", len(names))
	}
	cases := [][]string{}
	for _, n := range names {
		cases = append(cases, []string{n, "--no-such-flag"})
	}
	cases = append(cases,
		[]string{"generate", "--model", "demo", "--prompt", "hi", "--temperature", "-1"},
		[]string{"generate", "--model", "demo", "--prompt", "hi", "--top-k", "-3"},
		[]string{"generate", "--model", "demo", "--prompt", "hi", "--dtype", "float16"},
		[]string{"generate", "--model", "demo", "--prompt", "hi", "--max-new-tokens", "abc"},
		[]string{"generate", "--prompt", "hi"},
		[]string{"train", "--set", "lora.r=sixty"},
		[]string{"train", "--resume-changed=maybe"},
		[]string{"evaluators", "extra"},
		[]string{"export", "--format", "onnx", "--out", t.TempDir()},
		[]string{"no-such-command"},
		[]string{"bench", "infer", "--model", "demo", "--dtype", "q4_0"},
		[]string{"bench", "train", "--model", "demo", "--dtype", "float16"},
	)
	for _, c := range cases {
		var out, errOut bytes.Buffer
		if code := run(c, &out, &errOut); code != 2 {
			t.Errorf("qwentune %q: exit %d, want 2\n%s", c, code, errOut.String())
		}
	}
}
