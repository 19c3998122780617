package main

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"qwentune/plugins/evaluators"
)

func configured(t *testing.T, settings map[string]string) judgeConfig {
	t.Helper()
	j := newJudge()
	if err := j.Configure(context.Background(), settings); err != nil {
		t.Fatal(err)
	}
	return j.settings()
}

// TestLabel maps answers to labels with the default settings: the label
// named first, as whole words, ignoring case, the longer at a tie.
func TestLabel(t *testing.T) {
	c := configured(t, nil)
	tests := []struct{ answer, want string }{
		{"ok", "ok"},
		{"OK.", "ok"},
		{"  Ok, the answer is right", "ok"},
		{"not ok", "not ok"},
		{"Not OK: it names the wrong menu", "not ok"},
		{"It is NOT ok.", "not ok"},
		{"ok, well, not ok after all", "ok"},
		{"not ok... no wait, ok", "not ok"},
		{"notok", evaluators.Unjudged},
		{"okay", evaluators.Unjudged},
		{"book", evaluators.Unjudged},
		{"not  ok", "ok"}, // two spaces: only "ok" is named as written
		{"", evaluators.Unjudged},
		{"   \n", evaluators.Unjudged},
		{"and the LORD spake unto Moses", evaluators.Unjudged},
		{"«ok»", "ok"},
		{"ok2", evaluators.Unjudged},
	}
	for _, tt := range tests {
		got, ok := c.label(tt.answer)
		if !ok {
			got = evaluators.Unjudged
		}
		if got != tt.want {
			t.Errorf("label(%q) = %q, want %q", tt.answer, got, tt.want)
		}
	}
}

// TestLabelCustom uses other labels and a regex.
func TestLabelCustom(t *testing.T) {
	yn := configured(t, map[string]string{"labels": "Yes , No"})
	if !slices.Equal(yn.labels, []string{"Yes", "No"}) {
		t.Fatalf("labels = %q", yn.labels)
	}
	for answer, want := range map[string]string{"yes": "Yes", "NO!": "No", "No, yes": "No", "yesno": evaluators.Unjudged, "maybe": evaluators.Unjudged} {
		got, ok := yn.label(answer)
		if !ok {
			got = evaluators.Unjudged
		}
		if got != want {
			t.Errorf("yes/no label(%q) = %q, want %q", answer, got, want)
		}
	}
	re := configured(t, map[string]string{"answer_regex": `(?i)verdict:\s*(not ok|ok)`})
	for answer, want := range map[string]string{
		"ok. Verdict: not ok":    "not ok",
		"VERDICT: ok":            "ok",
		"ok":                     evaluators.Unjudged, // no "verdict:"
		"verdict: fine":          evaluators.Unjudged,
		"verdict:   Not OK then": "not ok",
	} {
		got, ok := re.label(answer)
		if !ok {
			got = evaluators.Unjudged
		}
		if got != want {
			t.Errorf("regex label(%q) = %q, want %q", answer, got, want)
		}
	}
	whole := configured(t, map[string]string{"answer_regex": `^\s*\w+`, "labels": "pass,fail"})
	if got, ok := whole.label("  PASS it"); !ok || got != "pass" {
		t.Errorf("regex without group: %q %v", got, ok)
	}
}

func TestConfigureErrors(t *testing.T) {
	tests := []struct {
		settings map[string]string
		want     string
	}{
		{map[string]string{"labels": "ok,,not ok"}, "empty label"},
		{map[string]string{"labels": " "}, "empty label"},
		{map[string]string{"labels": "ok, OK"}, "listed twice"},
		{map[string]string{"labels": "ok, Unjudged"}, "reserved"},
		{map[string]string{"answer_regex": "("}, "answer_regex"},
		{map[string]string{"max_new_tokens": "0"}, "max_new_tokens"},
		{map[string]string{"max_new_tokens": "x"}, "max_new_tokens"},
		{map[string]string{"temperature": "-1"}, "temperature"},
		{map[string]string{"temperature": "NaN"}, "temperature"},
		{map[string]string{"prompt": "  "}, "prompt"},
		{map[string]string{"model": "base"}, `unknown setting "model"`},
	}
	for _, tt := range tests {
		j := newJudge()
		err := j.Configure(context.Background(), tt.settings)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Configure(%v) = %v, want an error with %q", tt.settings, err, tt.want)
		}
		if !slices.Equal(j.settings().labels, []string{"ok", "not ok"}) {
			t.Errorf("a refused Configure changed the labels to %q", j.settings().labels)
		}
	}
}

// stubGenerator answers from a table keyed by the sample input found in
// the prompt, and records the requests.
type stubGenerator struct {
	answers map[string]string
	reqs    []evaluators.GenerateRequest
	err     error
}

func (g *stubGenerator) Generate(_ context.Context, r evaluators.GenerateRequest) (evaluators.GenerateResponse, error) {
	g.reqs = append(g.reqs, r)
	if g.err != nil {
		return evaluators.GenerateResponse{}, g.err
	}
	for in, a := range g.answers {
		if strings.Contains(r.Messages[0].Content, "Question:\n"+in+"\n") {
			return evaluators.GenerateResponse{Text: a, FinishReason: "eos"}, nil
		}
	}
	return evaluators.GenerateResponse{Text: "", FinishReason: "length"}, nil
}

func TestJudgeWith(t *testing.T) {
	j := newJudge()
	if err := j.Configure(context.Background(), map[string]string{"max_new_tokens": "7", "temperature": "0.5"}); err != nil {
		t.Fatal(err)
	}
	gen := &stubGenerator{answers: map[string]string{"good": "OK", "bad": "Not ok.", "odd": "Behold, the sheep"}}
	samples := []evaluators.Sample{
		{ID: "1", Input: "good", Output: "an answer", Reference: "the reference"},
		{ID: "2", Input: "bad", Output: "x"},
		{ID: "3", Input: "odd", Output: "y"},
		{ID: "4", Input: "silent", Output: "z"},
	}
	vs, err := j.JudgeWith(context.Background(), samples, gen)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		label string
		score float64
	}{{"ok", 1}, {"not ok", 0}, {evaluators.Unjudged, 0}, {evaluators.Unjudged, 0}}
	for i, v := range vs {
		if v.ID != samples[i].ID || v.Label != want[i].label || v.Score != want[i].score || v.Reason == "" {
			t.Errorf("verdict %d = %+v, want label %q score %v", i, v, want[i].label, want[i].score)
		}
	}
	if !strings.Contains(vs[2].Reason, `"Behold, the sheep"`) || !strings.Contains(vs[3].Reason, "nothing") {
		t.Errorf("unjudged reasons: %q, %q", vs[2].Reason, vs[3].Reason)
	}
	r := gen.reqs[0]
	q := r.Messages[0].Content
	if len(gen.reqs) != 4 || r.MaxNewTokens != 7 || r.Temperature != 0.5 || r.Messages[0].Role != "user" ||
		!strings.Contains(q, "Answer:\nan answer\n") || !strings.Contains(q, "the reference") ||
		!strings.Contains(q, "one of: ok, not ok.") || strings.Contains(q, "{") {
		t.Errorf("request = %+v", r)
	}

	if _, err := j.Judge(context.Background(), samples); err == nil || !strings.Contains(err.Error(), "no generator") {
		t.Errorf("Judge without a generator: %v", err)
	}
	boom := errors.New("prompt too long")
	if _, err := j.JudgeWith(context.Background(), samples, &stubGenerator{err: boom}); !errors.Is(err, boom) ||
		!strings.Contains(err.Error(), "sample 1") {
		t.Errorf("a failed generation: %v", err)
	}
}

func TestInfoLabels(t *testing.T) {
	j := newJudge()
	if err := j.Configure(context.Background(), map[string]string{"labels": "pass, fail"}); err != nil {
		t.Fatal(err)
	}
	info, _ := j.Info(context.Background())
	if !slices.Equal(info.Labels, []string{"pass", "fail", evaluators.Unjudged}) || info.Name != "judge" {
		t.Errorf("Info = %+v", info)
	}
}

// FuzzLabel: any answer maps to a configured label or to nothing, never a
// panic, and a label found is named in the answer, ignoring case.
func FuzzLabel(f *testing.F) {
	for _, s := range []string{"ok", "not ok", "NOT OK", "okay", "", "\xff ok", "İ ok"} {
		f.Add(s)
	}
	c := judgeConfig{labels: []string{"ok", "not ok"}}
	f.Fuzz(func(t *testing.T, answer string) {
		l, ok := c.label(answer)
		if !ok {
			return
		}
		if !slices.Contains(c.labels, l) || !strings.Contains(strings.ToLower(answer), l) {
			t.Fatalf("label(%q) = %q", answer, l)
		}
	})
}
