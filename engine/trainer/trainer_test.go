package trainer

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"qwentune/engine/nn"
	"qwentune/engine/progress"
)

// runOpts is a small complete configuration over the fake model.
func runOpts(t *testing.T, m *bigram, rows, batch int) Options {
	ids, labels := makeRows(rows, m.V, 5)
	return Options{
		OutputDir:    t.TempDir(),
		Epochs:       3,
		MaxSteps:     -1,
		GradAccum:    2,
		LearningRate: 0.05,
		Scheduler:    "cosine",
		WarmupSteps:  1,
		WeightDecay:  0.01,
		MaxGradNorm:  1,
		LoggingSteps: 1,
		Seed:         42,
		Params:       m.params(),
		Batches:      shuffled(ids, labels, batch),
	}
}

func TestPlan(t *testing.T) {
	tests := []struct {
		batches, accum int
		epochs         float64
		maxSteps       int
		perEpoch       int
		total          int
		numEpochs      int
	}{
		{3, 4, 3, -1, 1, 3, 3}, // the seed: 3 rows, batch 1, accumulation 4, 3 epochs
		{10, 4, 2, -1, 3, 6, 2},
		{10, 4, 1.5, 0, 3, 5, 2}, // ceil(1.5·3)
		{8, 4, 1, -1, 2, 2, 1},
		{10, 3, 1, 7, 4, 7, 2}, // max_steps wins
		{5, 1, 0.5, -1, 5, 3, 1},
		{7, 0, 1, -1, 7, 7, 1}, // accumulation 0 means 1
	}
	for _, tc := range tests {
		p, err := newPlan(Options{GradAccum: tc.accum, Epochs: tc.epochs, MaxSteps: tc.maxSteps}, tc.batches)
		if err != nil {
			t.Fatal(err)
		}
		if p.perEpoch != tc.perEpoch || p.total != tc.total || p.numEpochs != tc.numEpochs {
			t.Errorf("%+v: per epoch %d, total %d, epochs %d", tc, p.perEpoch, p.total, p.numEpochs)
		}
	}
	if _, err := newPlan(Options{}, 3); err == nil {
		t.Error("no epochs and no max_steps: want an error")
	}
	// Epoch floats: 5 micro-batches, accumulation 2 → updates consume 2, 2, 1.
	p, _ := newPlan(Options{GradAccum: 2, Epochs: 2}, 5)
	want := []float64{0, 0.4, 0.8, 1, 1.4, 1.8, 2}
	for s, w := range want {
		if got := p.epochAt(s); math.Abs(got-w) > 1e-12 {
			t.Errorf("epochAt(%d) = %v, want %v", s, got, w)
		}
	}
	for _, w := range [][3]int{{0, 0, 0}, {1, 0, 2}, {2, 0, 4}, {3, 1, 0}, {5, 1, 4}} {
		if e, b := p.position(w[0]); e != w[1] || b != w[2] {
			t.Errorf("position(%d) = epoch %d micro-batch %d, want %d %d", w[0], e, b, w[1], w[2])
		}
	}
}

// TestSeedCase is SPEC §5's example: 3 rows, batch 1, accumulation 4,
// 3 epochs, cosine without warmup → 3 steps at 2e-4, 1.5e-4, 5e-5.
func TestSeedCase(t *testing.T) {
	m := newBigram(6, 1, 0)
	o := runOpts(t, m, 3, 1)
	o.GradAccum, o.LearningRate, o.WarmupSteps, o.Epochs = 4, 2e-4, 0, 3
	var calls []int
	batches := o.Batches
	o.Batches = func(e int) []nn.Batch { calls = append(calls, e); return batches(e) }
	res, err := Run(context.Background(), m, o, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.GlobalStep != 3 || res.MaxSteps != 3 {
		t.Fatalf("steps %d of %d, want 3 of 3", res.GlobalStep, res.MaxSteps)
	}
	if len(m.calls) != 9 {
		t.Fatalf("%d forward/backward calls, want 9", len(m.calls))
	}
	wantLR := []float64{2e-4, 1.5e-4, 5e-5}
	for i, e := range res.LogHistory[:3] {
		if math.Abs(e["learning_rate"]-wantLR[i]) > 1e-18 || e["step"] != float64(i+1) || e["epoch"] != float64(i+1) {
			t.Errorf("log %d: %v, want lr %v epoch %d", i, e, wantLR[i], i+1)
		}
	}
	if !slices.Equal(calls, []int{0, 1, 2}) {
		t.Errorf("Batches called for epochs %v, want [0 1 2]", calls)
	}
}

// TestTokenMeanAccumulation checks that the gradient accumulated over
// micro-batches of different lengths equals the gradient of the token mean
// over the whole accumulated batch, and that the fake model's gradient is
// right (finite differences).
func TestTokenMeanAccumulation(t *testing.T) {
	m := newBigram(5, 3, 0)
	ids, labels := makeRows(7, m.V, 9)
	group := batchesOf(ids, labels, 3) // 3 + 3 + 1 rows, padded differently
	seed := func(int) uint64 { return 0 }
	lossSum, n, stopped, err := accumulate(m, group, seed, nil)
	if err != nil || stopped {
		t.Fatal(err, stopped)
	}
	got := [][]float32{append([]float32(nil), m.W.Grad...), append([]float32(nil), m.B.Grad...)}

	// One batch holding every row, scaled by 1/N.
	zeroGrads(m.params())
	all := batchesOf(ids, labels, len(ids))[0]
	refLoss, refN := m.lossGrad(all, 0, 0, false)
	if refN != n || math.Abs(refLoss-lossSum) > 1e-9 {
		t.Fatalf("accumulated loss %v over %d tokens, whole batch %v over %d", lossSum, n, refLoss, refN)
	}
	m.lossGrad(all, 1/float64(refN), 0, true)
	for i, p := range m.params() {
		for j := range p.Grad {
			if math.Abs(float64(got[i][j]-p.Grad[j])) > 1e-6 {
				t.Fatalf("%s[%d]: accumulated %v, token-mean gradient %v", p.Name, j, got[i][j], p.Grad[j])
			}
		}
	}
	// Finite differences of the token mean.
	mean := func() float64 { l, k := m.lossGrad(all, 0, 0, false); return l / float64(k) }
	const h = 1e-2
	for i, p := range m.params() {
		for _, j := range []int{0, 3, len(p.Data) - 1} {
			x := p.Data[j]
			p.Data[j] = x + h
			up := mean()
			p.Data[j] = x - h
			down := mean()
			p.Data[j] = x
			fd := (up - down) / (2 * h)
			if math.Abs(fd-float64(got[i][j])) > 1e-3 {
				t.Fatalf("%s[%d]: gradient %v, finite difference %v", p.Name, j, got[i][j], fd)
			}
		}
	}
	// Plain (unshifted) counting would be wrong: the counted tokens are the
	// shifted labels only.
	want := 0
	for _, l := range labels {
		for _, y := range l[1:] {
			if y != nn.IgnoreIndex {
				want++
			}
		}
	}
	if n != want {
		t.Fatalf("counted %d tokens, want %d shifted labels", n, want)
	}
}

var logLine = regexp.MustCompile(`^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} - INFO - (.*)$`)

func TestLoggingFields(t *testing.T) {
	m := newBigram(6, 2, 0)
	o := runOpts(t, m, 10, 2) // 5 micro-batches, accumulation 2 → 3 updates per epoch, 9 steps
	o.LoggingSteps = 2
	o.LogFile = filepath.Join(o.OutputDir, "logs", "train.log")
	o.FLOPsPerToken = 1000
	res, err := Run(context.Background(), m, o, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Per-update token means, from the model's per-call losses and counts.
	var stepLoss []float64
	calls := m.callLosses()
	c := 0
	for e := 0; e < 3; e++ {
		bs := o.Batches(e)
		for u := 0; u < 3; u++ {
			g := bs[2*u : min(2*u+2, len(bs))]
			sum, n := 0.0, 0
			for _, b := range g {
				k, _ := countTokens(b)
				n += k
				sum += calls[c]
				c++
			}
			stepLoss = append(stepLoss, sum/float64(n))
		}
	}
	if len(res.LogHistory) != 5 {
		t.Fatalf("%d log entries, want 4 + summary", len(res.LogHistory))
	}
	wantEpoch := []float64{0.8, 1 + 0.4, 2, 2.8}
	for i, e := range res.LogHistory[:4] {
		keys := slices.Sorted(func(yield func(string) bool) {
			for k := range e {
				if !yield(k) {
					return
				}
			}
		})
		if !slices.Equal(keys, []string{"epoch", "grad_norm", "learning_rate", "loss", "step"}) {
			t.Fatalf("entry %d keys %v", i, keys)
		}
		// The mean of the per-update losses since the last log, unrounded
		// (transformers ≥ 5 no longer rounds it to 4 decimals).
		want := (stepLoss[2*i] + stepLoss[2*i+1]) / 2
		if e["loss"] != want {
			t.Errorf("entry %d loss %v, want %v", i, e["loss"], want)
		}
		if e["step"] != float64(2*i+2) || math.Abs(e["epoch"]-wantEpoch[i]) > 1e-12 {
			t.Errorf("entry %d step %v epoch %v, want %d and %v", i, e["step"], e["epoch"], 2*i+2, wantEpoch[i])
		}
		sched, _ := NewSchedule("cosine", o.LearningRate, 1, 0, 9)
		if e["learning_rate"] != sched.LR(2*i+1) {
			t.Errorf("entry %d learning_rate %v, want lr(%d) = %v", i, e["learning_rate"], 2*i+1, sched.LR(2*i+1))
		}
		if e["grad_norm"] <= 0 {
			t.Errorf("entry %d grad_norm %v", i, e["grad_norm"])
		}
	}
	sum := res.LogHistory[4]
	for _, k := range []string{"train_runtime", "train_samples_per_second", "train_steps_per_second", "total_flos", "train_loss", "epoch", "step"} {
		if _, ok := sum[k]; !ok {
			t.Errorf("summary lacks %s: %v", k, sum)
		}
	}
	var mean float64
	for _, l := range stepLoss {
		mean += l
	}
	mean /= float64(len(stepLoss))
	if math.Abs(sum["train_loss"]-mean) > 1e-12 || sum["step"] != 9 || sum["epoch"] != 3 {
		t.Errorf("summary %v, want train_loss %v", sum, mean)
	}
	var input int64
	for e := 0; e < 3; e++ {
		for _, b := range o.Batches(e) {
			_, n := countTokens(b)
			input += n
		}
	}
	if sum["total_flos"] != float64(1000*input) {
		t.Errorf("total_flos %v, want %v", sum["total_flos"], 1000*input)
	}

	// The log file: Python logging lines; the entries are JSON.
	f, err := os.Open(o.LogFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	entries := 0
	for sc.Scan() {
		mm := logLine.FindStringSubmatch(sc.Text())
		if mm == nil {
			t.Fatalf("log line %q is not in the Python logging format", sc.Text())
		}
		if strings.HasPrefix(mm[1], "{") {
			var e LogEntry
			if err := json.Unmarshal([]byte(mm[1]), &e); err != nil {
				t.Fatal(err)
			}
			entries++
		}
	}
	if entries != 5 {
		t.Errorf("%d JSON entries in the log file, want 5", entries)
	}

	// Without clipping there is no grad_norm.
	m2 := newBigram(6, 2, 0)
	o2 := runOpts(t, m2, 4, 1)
	o2.MaxGradNorm = 0
	res2, err := Run(context.Background(), m2, o2, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := res2.LogHistory[0]["grad_norm"]; ok {
		t.Error("grad_norm logged with clipping off")
	}
}

func TestTrainerStateShape(t *testing.T) {
	m := newBigram(6, 2, 0)
	o := runOpts(t, m, 6, 2)
	o.SaveSteps = 2
	o.Extra = map[string]string{"config.yml": "lr: 0.05\n", "dataset.sha256": "abc\n"}
	if _, err := Run(context.Background(), m, o, nil); err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{o.OutputDir, filepath.Join(o.OutputDir, "checkpoint-4")} {
		b, err := os.ReadFile(filepath.Join(dir, TrainerStateFile))
		if err != nil {
			t.Fatal(err)
		}
		var st map[string]any
		if err := json.Unmarshal(b, &st); err != nil {
			t.Fatal(err)
		}
		want := []string{"best_global_step", "best_metric", "best_model_checkpoint", "epoch", "eval_steps", "global_step",
			"is_hyper_param_search", "is_local_process_zero", "is_world_process_zero", "log_history", "logging_steps",
			"max_steps", "num_input_tokens_seen", "num_train_epochs", "save_steps", "stateful_callbacks", "total_flos",
			"train_batch_size", "trial_name", "trial_params"}
		var keys []string
		for k := range st {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		if !slices.Equal(keys, want) {
			t.Fatalf("%s keys %v", dir, keys)
		}
		for _, k := range []string{"best_metric", "best_model_checkpoint", "best_global_step", "trial_name", "trial_params"} {
			if st[k] != nil {
				t.Errorf("%s: %s = %v, want null", dir, k, st[k])
			}
		}
		if st["max_steps"] != 6.0 || st["num_train_epochs"] != 3.0 || st["train_batch_size"] != 2.0 || st["logging_steps"] != 1.0 || st["save_steps"] != 2.0 {
			t.Errorf("%s: %v", dir, st)
		}
		for name, content := range o.Extra {
			if b, err := os.ReadFile(filepath.Join(dir, name)); err != nil || string(b) != content {
				t.Errorf("%s/%s: %q, %v", dir, name, b, err)
			}
		}
	}
	st, err := ReadTrainerState(filepath.Join(o.OutputDir, "checkpoint-4", TrainerStateFile))
	if err != nil {
		t.Fatal(err)
	}
	if st.GlobalStep != 4 || len(st.LogHistory) != 4 {
		t.Errorf("checkpoint-4: step %d, %d log entries", st.GlobalStep, len(st.LogHistory))
	}
	for _, f := range []string{ParamsFile, OptimizerFile, SchedulerFile, RNGStateFile, LoopStateFile, TrainingArgsFile} {
		if _, err := os.Stat(filepath.Join(o.OutputDir, "checkpoint-6", f)); err != nil {
			t.Errorf("final checkpoint: %v", err)
		}
	}
	var args map[string]any
	if err := readJSON(filepath.Join(o.OutputDir, TrainingArgsFile), &args); err != nil {
		t.Fatal(err)
	}
	if args["lr_scheduler_type"] != "cosine" || args["gradient_accumulation_steps"] != 2.0 || args["max_steps"] != -1.0 {
		t.Errorf("training_args.json: %v", args)
	}
}

func TestNaNStops(t *testing.T) {
	for _, tc := range []struct {
		name    string
		nanAt   int
		infGrad int
		snapAt  int // first call of the failing step
		msg     string
	}{{"loss", 5, 0, 5, "step 3 (epoch 1): micro-batch 1: loss is NaN"}, {"gradient", 0, 4, 3, "step 2 (epoch 1): gradient norm is +Inf"}} {
		t.Run(tc.name, func(t *testing.T) {
			m := newBigram(6, 2, 0)
			m.nanAt, m.infGrad = tc.nanAt, tc.infGrad
			o := runOpts(t, m, 10, 2)
			events := make(chan progress.Event, 100)
			var before []float32
			m.hook = func(call int) {
				if call == tc.snapAt {
					before = append([]float32(nil), m.W.Data...)
				}
			}
			_, err := Run(context.Background(), m, o, send(events))
			if err == nil || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("error %v, want %q", err, tc.msg)
			}
			if !slices.Equal(before, m.W.Data) {
				t.Error("the failing step changed the parameters")
			}
			var last progress.Event
			for len(events) > 0 {
				last = <-events
			}
			if last.Kind != progress.Error || !strings.Contains(last.Message, tc.msg) {
				t.Errorf("last event %+v", last)
			}
		})
	}
}

func TestOptionsValidation(t *testing.T) {
	m := newBigram(4, 1, 0)
	tests := []struct {
		name string
		edit func(*Options)
		msg  string
	}{
		{"output", func(o *Options) { o.OutputDir = "" }, "output_dir"},
		{"batches", func(o *Options) { o.Batches = nil }, "Batches"},
		{"params", func(o *Options) { o.Params = nil }, "trainable"},
		{"lr", func(o *Options) { o.LearningRate = math.NaN() }, "learning_rate"},
		{"scheduler", func(o *Options) { o.Scheduler = "step" }, "scheduler"},
		{"epochs", func(o *Options) { o.Epochs, o.MaxSteps = 0, 0 }, "epochs"},
		{"extra", func(o *Options) { o.Extra = map[string]string{"../x": ""} }, "plain file name"},
		{"no tokens", func(o *Options) {
			o.Batches = func(int) []nn.Batch {
				return []nn.Batch{{IDs: [][]int{{1, 2}}, Labels: [][]int{{1, nn.IgnoreIndex}}}}
			}
		}, "no trained token"},
		{"empty", func(o *Options) { o.Batches = func(int) []nn.Batch { return nil } }, "no micro-batches"},
		{"resume none", func(o *Options) { o.ResumeFrom = "latest" }, "no checkpoint-N"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := runOpts(t, m, 4, 1)
			tc.edit(&o)
			_, err := Run(context.Background(), m, o, nil)
			if err == nil || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("error %v, want one mentioning %q", err, tc.msg)
			}
		})
	}
}

// TestEventsNeverBlock runs with a consumer that reads nothing until the
// model's last call: the loop must finish its work regardless, then every
// log/save/done event arrives in order and step events are coalesced.
func TestEventsNeverBlock(t *testing.T) {
	m := newBigram(6, 2, 0)
	o := runOpts(t, m, 12, 1) // 12 micro-batches, accumulation 2 → 18 steps
	o.LoggingSteps, o.SaveSteps = 4, 9
	lastCall := make(chan struct{})
	m.hook = func(call int) {
		if call == 36 {
			close(lastCall)
		}
	}
	events := make(chan progress.Event) // unbuffered: any blocking send would stall the loop
	done := make(chan error, 1)
	go func() { _, err := Run(context.Background(), m, o, send(events)); done <- err }()
	select {
	case <-lastCall:
	case <-time.After(20 * time.Second):
		t.Fatal("the loop stalled waiting for the event consumer")
	}
	var got []progress.Event
	for len(got) == 0 || got[len(got)-1].Kind != progress.Done {
		select {
		case ev := <-events:
			got = append(got, ev)
		case <-time.After(10 * time.Second):
			t.Fatalf("no done event; got %d events", len(got))
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	var kinds []progress.Kind
	lastStep := 0
	steps := 0
	for _, ev := range got {
		if ev.Kind == progress.Step {
			steps++
			if ev.Train.Step <= lastStep {
				t.Fatalf("step events out of order: %d after %d", ev.Train.Step, lastStep)
			}
			lastStep = ev.Train.Step
			continue
		}
		kinds = append(kinds, ev.Kind)
	}
	want := []progress.Kind{"log", "log", "save", "log", "log", "save", "done"}
	if !slices.Equal(kinds, want) {
		t.Fatalf("events %v, want %v", kinds, want)
	}
	if steps == 0 || steps > 18 {
		t.Fatalf("%d step events", steps)
	}
	if d := got[len(got)-1]; d.Train.Step != 18 || d.Train.Log["train_loss"] == 0 || d.Train.Loss != d.Train.Log["train_loss"] {
		t.Errorf("done event %+v", d)
	}
}

func TestStepEventFields(t *testing.T) {
	m := newBigram(6, 2, 0)
	o := runOpts(t, m, 4, 1)
	events := make(chan progress.Event, 1000)
	if _, err := Run(context.Background(), m, o, send(events)); err != nil {
		t.Fatal(err)
	}
	close(events)
	n := 0
	for ev := range events {
		if ev.Kind != progress.Step {
			continue
		}
		n++
		if ev.Train.Step != n || ev.Train.MaxSteps != 6 || ev.Train.Loss <= 0 || ev.Train.LR < 0 || ev.Train.GradNorm <= 0 || ev.Train.TokensPerSec <= 0 || ev.Train.ETASeconds < 0 {
			t.Errorf("step event %+v", ev)
		}
		if _, err := os.Stat("/proc/self/status"); err == nil && ev.Train.MemBytes <= 0 {
			t.Errorf("MemBytes %d", ev.Train.MemBytes)
		}
	}
	if n != 6 {
		t.Errorf("%d step events with a roomy channel, want 6", n)
	}
}

func TestStopBeforeFirstStep(t *testing.T) {
	m := newBigram(6, 2, 0)
	o := runOpts(t, m, 4, 1)
	o.SaveSteps = 1
	ctx, cancel := context.WithCancel(context.Background())
	m.hook = func(int) { cancel() }
	res, err := Run(ctx, m, o, nil)
	if !errors.Is(err, ErrStopped) || !res.Stopped || res.Checkpoint != "" || res.GlobalStep != 0 {
		t.Fatalf("result %+v, error %v", res, err)
	}
	for _, p := range m.params() {
		for _, g := range p.Grad {
			if g != 0 {
				t.Fatal("the partial accumulation left gradients behind")
			}
		}
	}
}

// TestZeroTokenUpdate: an update whose micro-batches train no token still
// steps (decay and momentum move) but stays out of the loss means.
func TestZeroTokenUpdate(t *testing.T) {
	m := newBigram(4, 1, 0)
	o := runOpts(t, m, 2, 1)
	o.GradAccum, o.Epochs = 1, 1
	o.Batches = func(int) []nn.Batch {
		return []nn.Batch{
			{IDs: [][]int{{1, 2, 3}}, Labels: [][]int{{1, 2, 3}}},
			{IDs: [][]int{{1, 2}}, Labels: [][]int{{1, nn.IgnoreIndex}}},
		}
	}
	res, err := Run(context.Background(), m, o, nil)
	if err != nil {
		t.Fatal(err)
	}
	first, second := res.LogHistory[0], res.LogHistory[1]
	if _, ok := second["loss"]; ok || first["loss"] <= 0 {
		t.Fatalf("entries %v %v: the empty update must log no loss", first, second)
	}
	if res.TrainLoss != m.calls[0]/2 {
		t.Errorf("train_loss %v, want the first update's mean %v", res.TrainLoss, m.calls[0]/2)
	}
}

// TestResumeFinished resumes from the final checkpoint: nothing is left to
// train and the summary is written again without dividing by zero.
func TestResumeFinished(t *testing.T) {
	m := newBigram(4, 1, 0)
	o := runOpts(t, m, 2, 1)
	o.SaveSteps = 10
	if _, err := Run(context.Background(), m, o, nil); err != nil {
		t.Fatal(err)
	}
	calls := len(m.calls)
	o.ResumeFrom = "latest"
	res, err := Run(context.Background(), m, o, nil)
	if err != nil || res.GlobalStep != 3 || len(m.calls) != calls {
		t.Fatalf("%+v %v, %d calls", res, err, len(m.calls)-calls)
	}
}

// TestLogLevel: the log file gets the lines at LogLevel and above: DEBUG
// adds a line per step, WARNING keeps only the warnings and failures, ERROR
// only failures.
func TestLogLevel(t *testing.T) {
	count := func(level string, nan bool) map[string]int {
		m := newBigram(6, 2, 0)
		o := runOpts(t, m, 4, 1)
		o.MaxSteps, o.LoggingSteps = 3, 1
		o.LogFile, o.LogLevel = filepath.Join(o.OutputDir, "train.log"), level
		o.Warnings = []string{"train.jsonl:2: a duplicate row"}
		if nan {
			m.nanAt = 3
		}
		if _, err := Run(context.Background(), m, o, nil); (err != nil) != nan {
			t.Fatalf("%s: %v", level, err)
		}
		b, err := os.ReadFile(o.LogFile)
		if err != nil {
			t.Fatal(err)
		}
		n := map[string]int{}
		for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			if f := strings.SplitN(l, " - ", 3); len(f) == 3 {
				n[f[1]]++
			}
		}
		return n
	}
	if n := count("DEBUG", false); n["DEBUG"] != 3 || n["INFO"] == 0 || n["WARNING"] != 1 {
		t.Errorf("DEBUG: %v, want 3 step lines, the INFO lines and the warning", n)
	}
	if n := count("info", false); n["DEBUG"] != 0 || n["INFO"] == 0 || n["WARNING"] != 1 {
		t.Errorf("INFO: %v", n)
	}
	if n := count("WARNING", true); n["INFO"] != 0 || n["WARNING"] != 1 || n["ERROR"] != 1 {
		t.Errorf("WARNING: %v, want the warning and the failure", n)
	}
	if n := count("ERROR", false); len(n) != 0 {
		t.Errorf("ERROR on a good run: %v, want an empty log", n)
	}
}
