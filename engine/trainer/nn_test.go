package trainer

import (
	"context"
	"errors"
	"testing"

	"qwentune/engine/nn"
	"qwentune/model"
)

// *nn.Model is the model Run trains.
var _ Model = (*nn.Model)(nil)

// tinyQwen builds a random two-layer Qwen2 with a LoRA adapter on q and v
// (dropout on) and returns it with the adapter's trainable parameters.
func tinyQwen(t *testing.T, adapterSeed int64) (*nn.Model, []*nn.Param) {
	t.Helper()
	c := model.Shapes["tiny"]
	c.VocabSize, c.HiddenSize, c.IntermediateSize = 40, 32, 48
	c.NumHiddenLayers, c.NumAttentionHeads, c.NumKeyValueHeads, c.HeadDim = 2, 4, 2, 8
	c.RopeTheta, c.RMSNormEps, c.InitializerRange = 10000, 1e-5, 0.3
	c.BOSTokenID, c.EOSTokenIDs = 1, []int{1}
	m, err := nn.New(c, "float32", 1)
	if err != nil {
		t.Fatal(err)
	}
	a, err := m.NewAdapter(nn.LoRAConfig{R: 4, Alpha: 8, Dropout: 0.1, TargetModules: []string{"q_proj", "v_proj"}}, adapterSeed)
	if err != nil {
		t.Fatal(err)
	}
	m.SetAdapter(a)
	return m, a.Params()
}

// TestQwenLoRA trains a LoRA adapter of a tiny real Qwen2: the loss falls,
// the model's token counts agree with the loop's, and a run stopped and
// resumed ends with the uninterrupted run's adapter bit for bit, as does the
// run that followed a pre-flight.
func TestQwenLoRA(t *testing.T) {
	ids, labels := makeRows(8, 40, 21)
	opts := func(params []*nn.Param) Options {
		return Options{OutputDir: t.TempDir(), Epochs: 4, GradAccum: 2, LearningRate: 2e-2, Scheduler: "cosine",
			WeightDecay: 0.01, MaxGradNorm: 1, LoggingSteps: 1, SaveSteps: 3, Seed: 5, Params: params,
			Batches: shuffled(ids, labels, 2)}
	}
	m, params := tinyQwen(t, 3)
	// The pre-flight must leave no trace: the run after it is compared with
	// runs that had none.
	est, err := Preflight(context.Background(), m, opts(params), 2)
	if err != nil {
		t.Fatal(err)
	}
	t.Log(est)
	ref, err := Run(context.Background(), m, opts(params), nil)
	if err != nil {
		t.Fatal(err)
	}
	if ref.GlobalStep != 8 {
		t.Fatalf("%d steps, want 8", ref.GlobalStep)
	}
	first, last := ref.LogHistory[0]["loss"], ref.LogHistory[7]["loss"]
	if !(last < first) {
		t.Errorf("loss went from %v to %v", first, last)
	}

	m2, params2 := tinyQwen(t, 3)
	o := opts(params2)
	ctx, cancel := context.WithCancel(context.Background())
	stopper := &stopAfter{Model: m2, calls: 9, cancel: cancel} // mid step 5
	if _, err := Run(ctx, stopper, o, nil); !errors.Is(err, ErrStopped) {
		t.Fatalf("error %v, want ErrStopped", err)
	}
	m3, params3 := tinyQwen(t, 99)
	o.Params, o.ResumeFrom = params3, "latest"
	res, err := Run(context.Background(), m3, o, nil)
	if err != nil {
		t.Fatal(err)
	}
	sameParams(t, "resumed LoRA", params3, params)
	sameHistory(t, res.LogHistory, ref.LogHistory)
}

// stopAfter cancels the run's context after a number of calls.
type stopAfter struct {
	Model
	calls  int
	cancel context.CancelFunc
}

func (s *stopAfter) ForwardBackward(b nn.Batch, scale float32, seed uint64) (float64, int, error) {
	s.calls--
	if s.calls == 0 {
		s.cancel()
	}
	return s.Model.ForwardBackward(b, scale, seed)
}
