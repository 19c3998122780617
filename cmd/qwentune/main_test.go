package main

import (
	"flag"
	"slices"
	"testing"
)

// reorder lets flags follow the positional argument ("download ID --revision R").
func TestReorder(t *testing.T) {
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	fs.String("revision", "", "")
	fs.Bool("json", false, "")
	for _, c := range []struct {
		in, want []string
	}{
		{[]string{"Qwen/Qwen2-0.5B", "--revision", "v1"}, []string{"--revision", "v1", "Qwen/Qwen2-0.5B"}},
		{[]string{"id", "--json", "--revision=v2"}, []string{"--json", "--revision=v2", "id"}},
		{[]string{"--json", "a", "b"}, []string{"--json", "a", "b"}},
	} {
		if got := reorder(fs, c.in); !slices.Equal(got, c.want) {
			t.Errorf("reorder(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
