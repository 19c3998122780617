package host

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"qwentune/plugins/evaluators"
)

// babbler is a stub Generator standing in for the engine: it answers each
// rubric question from a table keyed by the sample's input and records
// what the plugin asked.
type babbler struct {
	mu      sync.Mutex
	answers map[string]string
	asked   []evaluators.GenerateRequest
	err     error
}

func (b *babbler) Generate(_ context.Context, r evaluators.GenerateRequest) (evaluators.GenerateResponse, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.asked = append(b.asked, r)
	if b.err != nil {
		return evaluators.GenerateResponse{}, b.err
	}
	for in, a := range b.answers {
		if len(r.Messages) == 1 && strings.Contains(r.Messages[0].Content, in) {
			return evaluators.GenerateResponse{Text: a, FinishReason: "eos"}, nil
		}
	}
	return evaluators.GenerateResponse{FinishReason: "length"}, nil
}

var judgeSamples = []evaluators.Sample{
	{ID: "a", Input: "question one", Output: "right"},
	{ID: "b", Input: "question two", Output: "wrong"},
	{ID: "c", Input: "question three", Output: "?"},
	{ID: "d", Input: "question four", Output: ""},
}

// TestJudgeOverBroker runs the real judge plugin with the host serving a
// stub Generator over go-plugin's broker: answers naming a label become
// that label, babble and silence become "unjudged", twice in a row on the
// same client (one broker stream per call).
func TestJudgeOverBroker(t *testing.T) {
	needPlugins(t)
	gen := &babbler{answers: map[string]string{"question one": "OK", "question two": "not ok, sorry",
		"question three": "And the LORD said unto Moses"}}
	c := open(t, goodDir, "judge", WithGenerator(gen))
	if err := c.Configure(context.Background(), map[string]string{"max_new_tokens": "5"}); err != nil {
		t.Fatal(err)
	}
	if got := c.About().Labels; !slices.Equal(got, []string{"ok", "not ok", evaluators.Unjudged}) {
		t.Fatalf("labels %q", got)
	}
	for round := range 2 {
		vs, err := c.Judge(context.Background(), judgeSamples)
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		want := []string{"ok", "not ok", evaluators.Unjudged, evaluators.Unjudged}
		for i, v := range vs {
			if v.Label != want[i] {
				t.Errorf("round %d sample %s: %+v, want %q", round, v.ID, v, want[i])
			}
		}
	}
	if len(gen.asked) != 8 || gen.asked[0].MaxNewTokens != 5 || !strings.Contains(gen.asked[0].Messages[0].Content, "right") {
		t.Errorf("asked %d times, first %+v", len(gen.asked), gen.asked[0])
	}
}

// TestJudgeLabelsFollowConfigure: the labels the host accepts are the ones
// the plugin declares after Configure.
func TestJudgeLabelsFollowConfigure(t *testing.T) {
	needPlugins(t)
	gen := &babbler{answers: map[string]string{"question": "PASS"}}
	c := open(t, goodDir, "judge", WithGenerator(gen))
	if err := c.Configure(context.Background(), map[string]string{"labels": "pass, fail"}); err != nil {
		t.Fatal(err)
	}
	vs, err := c.Judge(context.Background(), judgeSamples[:1])
	if err != nil || vs[0].Label != "pass" || vs[0].Score != 1 {
		t.Fatalf("%+v %v", vs, err)
	}
}

// TestJudgeGeneratorErrors: a host that offers no generator gets a clear
// error, and a generator's error reaches the host with the sample named.
func TestJudgeGeneratorErrors(t *testing.T) {
	needPlugins(t)
	c := open(t, goodDir, "judge")
	if _, err := c.Judge(context.Background(), judgeSamples); err == nil || !strings.Contains(err.Error(), "no generator") {
		t.Errorf("without a generator: %v", err)
	}
	c = open(t, goodDir, "judge", WithGenerator(&babbler{err: errors.New("prompt of 9000 tokens exceeds the context")}))
	_, err := c.Judge(context.Background(), judgeSamples)
	if err == nil || !strings.Contains(err.Error(), "9000 tokens") || !strings.Contains(err.Error(), "sample a") {
		t.Errorf("generator error: %v", err)
	}
	// The client still works after an error in the plugin's own logic.
	if _, err := c.Info(context.Background()); err != nil {
		t.Errorf("Info after a failed Judge: %v", err)
	}
}

// TestOldPluginIgnoresGenerator: an evaluator that does not generate
// judges as before when the host offers a generator.
func TestOldPluginIgnoresGenerator(t *testing.T) {
	needPlugins(t)
	gen := &babbler{}
	c := open(t, goodDir, "heuristic", WithGenerator(gen))
	vs, err := c.Judge(context.Background(), []evaluators.Sample{{ID: "1", Output: "Paris is the capital of France."}})
	if err != nil || len(vs) != 1 || vs[0].Label != "ok" {
		t.Fatalf("%+v %v", vs, err)
	}
	if len(gen.asked) != 0 {
		t.Errorf("heuristic generated %d times", len(gen.asked))
	}
}

// blocker is a Generator that blocks until its call is cancelled, then
// reports that it was.
type blocker struct {
	started   chan struct{}
	cancelled chan error
}

func (b *blocker) Generate(ctx context.Context, _ evaluators.GenerateRequest) (evaluators.GenerateResponse, error) {
	close(b.started)
	<-ctx.Done()
	b.cancelled <- ctx.Err()
	return evaluators.GenerateResponse{}, ctx.Err()
}

// TestJudgeCancelReachesGenerator: cancelling a Judge call cancels the
// generation the plugin asked the host for, so the host's CPU stops too,
// and the client stays usable.
func TestJudgeCancelReachesGenerator(t *testing.T) {
	needPlugins(t)
	gen := &blocker{started: make(chan struct{}), cancelled: make(chan error, 1)}
	c := open(t, goodDir, "judge", WithGenerator(gen))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := c.Judge(ctx, judgeSamples[:1])
		done <- err
	}()
	<-gen.started
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Judge after cancel: %v", err)
	}
	select {
	case err := <-gen.cancelled:
		if err == nil {
			t.Error("generator context not cancelled")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the host's generation was not cancelled")
	}
	if _, err := c.Info(context.Background()); err != nil {
		t.Errorf("Info after a cancelled Judge: %v", err)
	}
}
