package tokenizer

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestChatTemplateLimits: a hostile chat template is an error naming what
// it overran, never a stack overflow, a hang or unbounded memory; a done
// context stops rendering.
func TestChatTemplateLimits(t *testing.T) {
	msgs := []Message{{Role: "user", Content: "hi"}}
	for _, tc := range []struct {
		name, src, want string
	}{
		{"recursive macro", "{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}", "nested more than 64 deep"},
		{"endless loop", "{% for a in range(1000000) %}{% for b in range(1000000) %}x{% endfor %}{% endfor %}", "steps"},
		{"doubling string", "{% set ns = namespace(s='ab') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s }}", "exceeds the limit"},
		{"repeated string", "{{ 'x' * 1000000000000 }}", "exceeds the limit"},
		{"huge range", "{% for i in range(1000000000000) %}{% endfor %}", "range"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			_, err := withTemplate(t, tc.src).ApplyChatTemplate(msgs, true)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "chat template") {
				t.Fatalf("error %v, want one saying %q", err, tc.want)
			}
			if d := time.Since(start); d > 2*TemplateTimeout {
				t.Errorf("took %v", d)
			}
		})
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := withTemplate(t, "{% for a in range(100000) %}{{ a }}{% endfor %}").ApplyChatTemplateContext(ctx, msgs, true)
	if err == nil || !strings.Contains(err.Error(), "canceled") {
		t.Fatalf("cancelled rendering: %v", err)
	}
	// A normal template still renders.
	out, err := withTemplate(t, ChatMLTemplate).ApplyChatTemplate(msgs, true)
	if err != nil || !strings.HasSuffix(out, "<|im_start|>assistant\n") {
		t.Fatalf("ChatML: %q, %v", out, err)
	}
}
