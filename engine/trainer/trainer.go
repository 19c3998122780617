// Package trainer is the training loop of the engine, with the semantics of the
// Hugging Face Trainer: gradient accumulation normalised by the token count of
// the whole accumulated batch, global-norm clipping, torch's AdamW, the
// transformers learning-rate schedules, log_history, checkpoints that resume
// exactly, pause/stop, and a pre-flight that measures a few real steps. It
// knows nothing of the model beyond the Model interface.
package trainer

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"qwentune/engine/nn"
	"qwentune/engine/progress"
	"qwentune/internal/atomicfile"
)

// Model is what the loop trains; *nn.Model satisfies it.
type Model interface {
	// ForwardBackward runs one micro-batch with dropout seeded by seed, ADDS
	// lossScale·∂(summed token loss)/∂p to every trainable Param.Grad, and
	// returns the summed token loss and the number of counted (shifted,
	// label != -100) tokens.
	ForwardBackward(b nn.Batch, lossScale float32, seed uint64) (lossSum float64, tokens int, err error)
}

// Options configures Run. Field names follow transformers' TrainingArguments.
type Options struct {
	OutputDir string  // run folder: final files and checkpoint-N folders
	Epochs    float64 // num_train_epochs (may be fractional); ignored when MaxSteps > 0
	MaxSteps  int     // total optimizer steps; ≤ 0 derives them from Epochs
	// BatchSize is per_device_train_batch_size, recorded in trainer_state.json
	// (the rows per micro-batch are whatever Batches returns); 0 takes the
	// row count of the first micro-batch.
	BatchSize    int
	GradAccum    int // gradient_accumulation_steps; 0 means 1
	LearningRate float64
	Scheduler    string // cosine, linear (""), constant, constant_with_warmup
	WarmupSteps  int
	WarmupRatio  float64 // used when WarmupSteps is 0: ceil(ratio·T) steps
	WeightDecay  float64 // decoupled, on Params with Decay only
	MaxGradNorm  float64 // 0 turns clipping (and the logged grad_norm) off
	LoggingSteps int     // log every this many updates; 0 never
	SaveSteps    int     // checkpoint every this many updates and at the end; 0 never
	// SaveTotalLimit keeps only the newest this many checkpoints (and the
	// one resumed from); 0 keeps all.
	SaveTotalLimit int
	// Optimizer is "adamw" (torch's AdamW, the only one; "" means it).
	Optimizer string
	Seed      uint64 // dropout seeds derive from it, the epoch and the micro-batch index
	LogFile   string // appended in Python logging format; "" for none
	// LogLevel is the least severe line LogFile gets: DEBUG (also a line
	// per optimizer step), INFO (the default: the run banner, log_history
	// entries, checkpoints, the stop), WARNING (Warnings and failures) or
	// ERROR (failures).
	LogLevel string
	// Warnings are written to LogFile at WARNING when the run starts (the
	// data lints).
	Warnings []string
	// FLOPsPerToken gives total_flos (FLOPs per non-padding input token of
	// one forward+backward); 0 records 0.
	FLOPsPerToken float64
	// ResumeFrom is a checkpoint folder, or "latest" for the highest
	// checkpoint-N in OutputDir; "" starts afresh.
	ResumeFrom string
	// CheckResume, if set, is called with the checkpoint folder a resume
	// is about to load (after its checksums are verified); an error
	// refuses the resume (e.g. the data or config changed since).
	CheckResume func(dir string) error
	// Overwrite lets a fresh run replace the run already in OutputDir (its
	// checkpoints, state, weights and log are removed first); without it
	// such a run is refused with a RunExistsError.
	Overwrite bool

	// Params are the trainable parameters, the ones the optimizer updates.
	Params []*nn.Param
	// Batches returns the micro-batches of an epoch, already shuffled for it,
	// deterministically: the same epoch always yields the same list, and
	// every epoch the same number of micro-batches.
	Batches func(epoch int) []nn.Batch
	// SaveAdapter writes the trained weights into dir (adapter_config.json
	// and adapter_model.safetensors for LoRA). nil writes Params as F32 to
	// dir/adapter_model.safetensors with SaveParams.
	SaveAdapter func(dir string) error
	// LoadAdapter restores the trained weights from a checkpoint folder on
	// resume. nil reads dir/adapter_model.safetensors with LoadParams. For an
	// exact resume the saved weights must be F32.
	LoadAdapter func(dir string) error
	// Extra maps file names to contents written into OutputDir when the run
	// starts and into every checkpoint (the resolved config, the dataset
	// hash).
	Extra map[string]string
	// Control pauses or stops the run; nil for none.
	Control *Control
}

// Result summarises a run.
type Result struct {
	GlobalStep int
	MaxSteps   int
	Epoch      float64
	TrainLoss  float64       // mean of the per-update token-mean losses over the whole run
	Runtime    time.Duration // training time of this call, pauses excluded
	LogHistory []LogEntry
	Checkpoint string // the last checkpoint folder written, "" if none
	Stopped    bool   // stopped on request (ErrStopped)
}

// ErrStopped is returned (wrapped) by Run when the context was cancelled or
// Control.Stop was called; the run saved a checkpoint at its last finished
// step first (Result.Checkpoint), unless no step had finished.
var ErrStopped = errors.New("training stopped")

// ParamsFile is the file the default SaveAdapter and LoadAdapter use.
const ParamsFile = "adapter_model.safetensors"

// plan is the step arithmetic of a run, fixed by the data and the options.
type plan struct {
	batches   int // micro-batches per epoch
	accum     int
	perEpoch  int // updates per epoch: ceil(batches/accum)
	total     int // T
	numEpochs int // trainer_state's num_train_epochs
}

// newPlan computes updates per epoch = ceil(batches/accum) and T = MaxSteps,
// or ceil(epochs·updates per epoch), as the Trainer does.
func newPlan(o Options, batches int) (plan, error) {
	p := plan{batches: batches, accum: max(1, o.GradAccum)}
	if batches == 0 {
		return p, errors.New("train: no micro-batches in epoch 0")
	}
	p.perEpoch = (batches + p.accum - 1) / p.accum
	switch {
	case o.MaxSteps > 0:
		p.total = o.MaxSteps
		p.numEpochs = (o.MaxSteps + p.perEpoch - 1) / p.perEpoch
	case o.Epochs > 0 && !math.IsInf(o.Epochs, 0):
		p.total = int(math.Ceil(o.Epochs * float64(p.perEpoch)))
		p.numEpochs = int(math.Ceil(o.Epochs))
	default:
		return p, fmt.Errorf("train: epochs %g and max_steps %d: one of them must be positive", o.Epochs, o.MaxSteps)
	}
	return p, nil
}

// position returns the epoch and the index of the first micro-batch of the
// update that follows step finished steps.
func (p plan) position(step int) (epoch, batch int) {
	return step / p.perEpoch, (step % p.perEpoch) * p.accum
}

// epochAt is the Trainer's float epoch after step finished steps: epochs
// done plus the micro-batches consumed in this epoch over the micro-batches
// per epoch.
func (p plan) epochAt(step int) float64 {
	if step == 0 {
		return 0
	}
	e, u := (step-1)/p.perEpoch, (step-1)%p.perEpoch
	consumed := min((u+1)*p.accum, p.batches)
	return float64(e) + float64(consumed)/float64(p.batches)
}

// countTokens returns the labels that enter the loss after the causal shift
// (positions 1… of each row that are not IgnoreIndex) and the non-padding
// input tokens.
func countTokens(b nn.Batch) (trained int, input int64) {
	for i, row := range b.Labels {
		for t := 1; t < len(row); t++ {
			if row[t] != nn.IgnoreIndex {
				trained++
			}
		}
		if i < len(b.Mask) {
			for _, m := range b.Mask[i] {
				if m {
					input++
				}
			}
		} else if i < len(b.IDs) {
			input += int64(len(b.IDs[i]))
		}
	}
	return trained, input
}

// microSeed derives the dropout seed of micro-batch index of epoch from the
// run seed (splitmix64 of a unique combination), so a resumed run draws the
// same masks.
func microSeed(seed uint64, epoch, index int) uint64 {
	z := seed + uint64(epoch+1)*0x9E3779B97F4A7C15 + uint64(index+1)*0xD1B54A32D192ED03
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
	z = (z ^ (z >> 27)) * 0x94D049BB133111EB
	return z ^ (z >> 31)
}

// accumulate runs the micro-batches of one update, each with its loss
// scaled by 1/(counted tokens of the whole group), so that the gradients add
// up to the gradient of the token mean over the group. gate is called before
// each micro-batch and returning true abandons the update (stopped). It
// returns the summed token loss and the counted tokens.
func accumulate(m Model, group []nn.Batch, seed func(i int) uint64, gate func() bool) (lossSum float64, tokens int, stopped bool, err error) {
	for _, b := range group {
		n, _ := countTokens(b)
		tokens += n
	}
	scale := float32(0)
	if tokens > 0 {
		scale = float32(1 / float64(tokens))
	}
	got := 0
	for i, b := range group {
		if gate != nil && gate() {
			return 0, 0, true, nil
		}
		l, n, err := m.ForwardBackward(b, scale, seed(i))
		if err != nil {
			return 0, 0, false, fmt.Errorf("micro-batch %d: %w", i+1, err)
		}
		if math.IsNaN(l) || math.IsInf(l, 0) {
			return 0, 0, false, fmt.Errorf("micro-batch %d: loss is %v", i+1, l)
		}
		lossSum += l
		got += n
	}
	if got != tokens {
		return 0, 0, false, fmt.Errorf("the model counted %d trained tokens, the labels have %d", got, tokens)
	}
	return lossSum, tokens, false, nil
}

// Run trains m on o.Batches until MaxSteps (or Epochs) is reached, o.Control
// stops it or ctx is cancelled. on, when non-nil, receives progress without
// ever slowing the loop: it is called from a goroutine of its own, one event
// at a time and in order (step events coalesce while it is busy), and Run
// returns only after the last event was delivered.
//
// On cancellation (ctx or Control.Stop) the partial accumulation is dropped,
// a checkpoint is saved at the last finished step and the error wraps
// ErrStopped. A NaN or infinite loss or gradient stops the run without an
// update, naming the step.
func Run(ctx context.Context, m Model, o Options, on progress.Func) (res Result, err error) {
	em := newEmitter(on)
	defer em.close()
	r, err := newRunner(ctx, m, o, em)
	if err == nil {
		defer r.closeLog()
		res, err = r.run()
	}
	if err != nil && !errors.Is(err, ErrStopped) {
		if r != nil && r.log != nil {
			_ = r.log.write(levelError, err.Error())
		}
		em.send(progress.Event{Kind: progress.Error, Message: err.Error(), Train: &progress.Train{Step: res.GlobalStep, MaxSteps: res.MaxSteps}})
	}
	return res, err
}

// runner holds one run's state.
type runner struct {
	ctx   context.Context
	m     Model
	o     Options
	em    *emitter
	plan  plan
	sched Schedule
	opt   *adamW
	log   *logFile
	lock  *runLock

	step           int
	history        []LogEntry
	loop           loopState
	totalFlos      float64
	inputTokens    int64
	lastCheckpoint string
	resumedFrom    string // the checkpoint this run resumed from, "" for a fresh run
	savedStep      int    // step of the newest checkpoint (-1 for none)
	rowsPerEpoch   int

	batches      []nn.Batch
	batchesEpoch int

	start      time.Time
	pausedFor  time.Duration
	runSteps   int
	runTokens  int64
	runSamples int
}

func newRunner(ctx context.Context, m Model, o Options, em *emitter) (*runner, error) {
	if o.OutputDir == "" {
		return nil, errors.New("train: output_dir is empty")
	}
	if o.Batches == nil {
		return nil, errors.New("train: no Batches function")
	}
	if len(o.Params) == 0 {
		return nil, errors.New("train: no trainable parameters")
	}
	names := make(map[string]bool, len(o.Params))
	for _, p := range o.Params {
		if p.Name == "" || names[p.Name] {
			return nil, fmt.Errorf("train: parameter name %q: empty or repeated (checkpoints key tensors by name)", p.Name)
		}
		names[p.Name] = true
		if len(p.Data) != len(p.Grad) {
			return nil, fmt.Errorf("train: parameter %s: %d values but %d gradients", p.Name, len(p.Data), len(p.Grad))
		}
	}
	for _, f := range []struct {
		name string
		v    float64
	}{{"learning_rate", o.LearningRate}, {"weight_decay", o.WeightDecay}, {"max_grad_norm", o.MaxGradNorm}} {
		if f.v < 0 || math.IsNaN(f.v) || math.IsInf(f.v, 0) {
			return nil, fmt.Errorf("train: %s %g: must be a finite number ≥ 0", f.name, f.v)
		}
	}
	if o.GradAccum < 0 || o.LoggingSteps < 0 || o.SaveSteps < 0 || o.SaveTotalLimit < 0 || o.BatchSize < 0 {
		return nil, errors.New("train: batch size, gradient_accumulation_steps, logging_steps, save_steps and save_total_limit must be ≥ 0")
	}
	for name := range o.Extra {
		if name == "" || name != filepath.Base(name) || name == "." || name == ".." {
			return nil, fmt.Errorf("train: extra file %q: must be a plain file name", name)
		}
	}
	if o.SaveAdapter == nil {
		o.SaveAdapter = func(dir string) error { return SaveParams(filepath.Join(dir, ParamsFile), o.Params) }
	}
	if o.LoadAdapter == nil {
		o.LoadAdapter = func(dir string) error { return LoadParams(filepath.Join(dir, ParamsFile), o.Params) }
	}
	first := o.Batches(0)
	pl, err := newPlan(o, len(first))
	if err != nil {
		return nil, err
	}
	trained := 0
	for _, b := range first {
		n, _ := countTokens(b)
		trained += n
	}
	if trained == 0 {
		return nil, errors.New("train: the data has no trained token: every label after the shift is -100 (check the loss mask, e.g. dataset.loss_on, and that rows have more than one token)")
	}
	if o.BatchSize == 0 {
		o.BatchSize = len(first[0].IDs)
	}
	switch o.Optimizer {
	case "", OptimizerAdamW:
		o.Optimizer = OptimizerAdamW
	default:
		return nil, fmt.Errorf("train: optimizer %q: the one optimizer is %s (torch's AdamW)", o.Optimizer, OptimizerAdamW)
	}
	sched, err := NewSchedule(o.Scheduler, o.LearningRate, o.WarmupSteps, o.WarmupRatio, pl.total)
	if err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	o.Scheduler = sched.Kind
	r := &runner{ctx: ctx, m: m, o: o, em: em, plan: pl, sched: sched, opt: newAdamW(o.Params),
		savedStep: -1, batches: first, batchesEpoch: 0, loop: loopState{Seed: o.Seed}}
	for _, b := range first {
		r.rowsPerEpoch += len(b.IDs)
	}
	if err := checkNoSymlinks(o.OutputDir); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(o.OutputDir, 0o755); err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	if r.lock, err = lockRun(o.OutputDir); err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			r.lock.unlock()
		}
	}()
	if err := removeStaleTemps(o.OutputDir); err != nil {
		return nil, err
	}
	if o.ResumeFrom != "" {
		if err := r.resume(); err != nil {
			return nil, err
		}
	} else if found, err := existingRun(o.OutputDir); err != nil {
		return nil, fmt.Errorf("train: %w", err)
	} else if found != "" {
		if !o.Overwrite {
			return nil, &RunExistsError{Dir: o.OutputDir, Found: found}
		}
		if err := clearRun(o.OutputDir, o.LogFile); err != nil {
			return nil, fmt.Errorf("train: overwriting the run in %s: %w", o.OutputDir, err)
		}
	}
	for name, content := range o.Extra {
		if err := atomicfile.WriteFile(filepath.Join(o.OutputDir, name), []byte(content)); err != nil {
			return nil, fmt.Errorf("train: %w", err)
		}
	}
	if o.LogFile != "" {
		if r.log, err = openLog(o.LogFile, o.LogLevel); err != nil {
			return nil, err
		}
	}
	ok = true
	return r, nil
}

func (r *runner) closeLog() {
	if r.log != nil {
		r.log.close()
	}
	r.lock.unlock()
}

// epochBatches returns the micro-batches of epoch, asking Batches once per
// epoch.
func (r *runner) epochBatches(epoch int) ([]nn.Batch, error) {
	if r.batchesEpoch != epoch {
		r.batches, r.batchesEpoch = r.o.Batches(epoch), epoch
	}
	if len(r.batches) != r.plan.batches {
		return nil, fmt.Errorf("train: epoch %d has %d micro-batches, epoch 0 had %d", epoch, len(r.batches), r.plan.batches)
	}
	return r.batches, nil
}

// gate blocks while paused and reports whether the run must stop.
func (r *runner) gate() bool {
	ctl := r.o.Control
	for {
		if ctl.stopRequested(r.ctx) {
			return true
		}
		ch := ctl.pauseChan()
		if ch == nil {
			return false
		}
		r.em.send(r.event(progress.Pause, "paused at step "+strconv.Itoa(r.step)))
		t0 := time.Now()
		select {
		case <-ch:
		case <-r.ctx.Done():
		case <-ctl.stopChan():
		}
		r.pausedFor += time.Since(t0)
		if !ctl.stopRequested(r.ctx) {
			r.em.send(r.event(progress.Resume, "resumed at step "+strconv.Itoa(r.step)))
		}
	}
}

// event makes an event of kind with the run's position, speed and memory.
func (r *runner) event(kind progress.Kind, msg string) progress.Event {
	t := &progress.Train{Step: r.step, MaxSteps: r.plan.total, Epoch: r.plan.epochAt(r.step), MemBytes: readRSS()}
	if active := r.active().Seconds(); active > 0 && r.runSteps > 0 {
		t.TokensPerSec = float64(r.runTokens) / active
		t.ETASeconds = active / float64(r.runSteps) * float64(r.plan.total-r.step)
	}
	return progress.Event{Kind: kind, Message: msg, Train: t}
}

// active is the training time of this call, pauses excluded.
func (r *runner) active() time.Duration { return time.Since(r.start) - r.pausedFor }

func (r *runner) run() (Result, error) {
	r.start = time.Now()
	zeroGrads(r.o.Params)
	if err := r.logStart(); err != nil {
		return r.result(), err
	}
	for r.step < r.plan.total {
		stopped, err := r.update()
		if err != nil {
			zeroGrads(r.o.Params)
			return r.result(), err
		}
		if stopped {
			return r.stop()
		}
	}
	return r.finish()
}

// update runs one optimizer step, or reports a stop request.
func (r *runner) update() (stopped bool, err error) {
	epoch, first := r.plan.position(r.step)
	batches, err := r.epochBatches(epoch)
	if err != nil {
		return false, err
	}
	group := batches[first:min(first+r.plan.accum, len(batches))]
	seed := func(i int) uint64 { return microSeed(r.loop.Seed, epoch, first+i) }
	stepNo := r.step + 1
	lossSum, tokens, stopped, err := accumulate(r.m, group, seed, r.gate)
	if err != nil {
		return false, fmt.Errorf("train: step %d (epoch %d): %w", stepNo, epoch+1, err)
	}
	if stopped {
		zeroGrads(r.o.Params)
		return true, nil
	}
	norm := gradNorm(r.o.Params)
	if math.IsNaN(norm) || math.IsInf(norm, 0) {
		return false, fmt.Errorf("train: step %d (epoch %d): gradient norm is %v", stepNo, epoch+1, norm)
	}
	if r.o.MaxGradNorm > 0 {
		clipGrads(r.o.Params, norm, r.o.MaxGradNorm)
	}
	lr := r.sched.LR(r.step)
	r.opt.update(lr, r.o.WeightDecay)
	zeroGrads(r.o.Params)
	r.step++

	var input int64
	for _, b := range group {
		_, n := countTokens(b)
		input += n
		r.runSamples += len(b.IDs)
	}
	r.inputTokens += input
	r.runTokens += input
	r.runSteps++
	r.totalFlos += r.o.FLOPsPerToken * float64(input)
	loss := 0.0 // an update without trained tokens carries no loss and stays out of the means
	if tokens > 0 {
		loss = lossSum / float64(tokens)
		r.loop.TotalLoss += loss
		r.loop.LossSteps++
		r.loop.LogLoss += loss
		r.loop.LogLossSteps++
	}
	ev := r.event(progress.Step, "")
	ev.Train.Loss, ev.Train.LR, ev.Train.GradNorm = loss, lr, norm
	r.em.send(ev)
	if r.log != nil && r.log.enabled(levelDebug) {
		if err := r.log.write(levelDebug, fmt.Sprintf("step %d: loss %.6g, learning_rate %.6g, grad_norm %.6g, %d tokens", r.step, loss, lr, norm, tokens)); err != nil {
			return false, err
		}
	}

	if r.o.LoggingSteps > 0 && r.step%r.o.LoggingSteps == 0 {
		entry := LogEntry{"learning_rate": lr, "epoch": r.plan.epochAt(r.step), "step": float64(r.step)}
		if r.loop.LogLossSteps > 0 {
			// Unrounded, as current transformers logs it: 4.x rounded the
			// logged loss to 4 decimals until huggingface/transformers#42104
			// (Nov 2025) dropped the rounding; 5.25 logs the plain mean.
			entry["loss"] = r.loop.LogLoss / float64(r.loop.LogLossSteps)
		}
		if r.o.MaxGradNorm > 0 {
			entry["grad_norm"] = norm
		}
		r.loop.LogLoss, r.loop.LogLossSteps = 0, 0
		if err := r.appendLog(entry); err != nil {
			return false, err
		}
		ev := r.event(progress.Log, "")
		ev.Train.Loss, ev.Train.LR, ev.Train.GradNorm, ev.Train.Log = entry["loss"], lr, norm, entry
		r.em.send(ev)
	}
	if r.o.SaveSteps > 0 && (r.step%r.o.SaveSteps == 0 || r.step == r.plan.total) {
		if err := r.checkpoint(); err != nil {
			return false, err
		}
	}
	return false, nil
}

// appendLog adds entry to log_history and the log file.
func (r *runner) appendLog(entry LogEntry) error {
	r.history = append(r.history, entry)
	if r.log != nil {
		return r.log.entry(entry)
	}
	return nil
}

// checkpoint saves checkpoint-{step} and reports it.
func (r *runner) checkpoint() error {
	dir, err := r.saveCheckpoint()
	if err != nil {
		return fmt.Errorf("train: step %d: saving checkpoint: %w", r.step, err)
	}
	r.lastCheckpoint, r.savedStep = dir, r.step
	if r.log != nil {
		if err := r.log.info("Saving model checkpoint to " + dir); err != nil {
			return err
		}
	}
	ev := r.event(progress.Checkpoint, "saved "+dir)
	ev.Train.Path = dir
	r.em.send(ev)
	return nil
}

// stop saves a checkpoint at the last finished step and returns ErrStopped.
func (r *runner) stop() (Result, error) {
	if r.step > 0 && r.savedStep != r.step {
		if err := r.checkpoint(); err != nil {
			return r.result(), err
		}
	}
	res := r.result()
	res.Stopped = true
	msg := fmt.Sprintf("stopped at step %d of %d", r.step, r.plan.total)
	if res.Checkpoint != "" {
		msg += "; resume from " + res.Checkpoint
	}
	if r.log != nil {
		if err := r.log.info(msg); err != nil {
			return res, err
		}
	}
	ev := r.event(progress.Stopped, msg)
	ev.Train.Path = res.Checkpoint
	r.em.send(ev)
	return res, fmt.Errorf("%w: %s", ErrStopped, msg)
}

// finish appends the summary entry, writes the final weights and state into
// OutputDir and reports done.
func (r *runner) finish() (Result, error) {
	runtime := r.active().Seconds()
	perSecond := func(n int) float64 {
		if runtime <= 0 {
			return 0
		}
		return round(float64(n)/runtime, 3)
	}
	trainLoss := 0.0
	if r.loop.LossSteps > 0 {
		trainLoss = r.loop.TotalLoss / float64(r.loop.LossSteps)
	}
	summary := LogEntry{
		"train_runtime":            round(runtime, 4),
		"train_samples_per_second": perSecond(r.runSamples),
		"train_steps_per_second":   perSecond(r.runSteps),
		"total_flos":               r.totalFlos,
		"train_loss":               trainLoss,
		"epoch":                    r.plan.epochAt(r.step),
		"step":                     float64(r.step),
	}
	if err := r.appendLog(summary); err != nil {
		return r.result(), err
	}
	if err := r.o.SaveAdapter(r.o.OutputDir); err != nil {
		return r.result(), fmt.Errorf("train: saving the final weights to %s: %w", r.o.OutputDir, err)
	}
	if err := r.writeState(r.o.OutputDir); err != nil {
		return r.result(), err
	}
	res := r.result()
	ev := r.event(progress.Done, fmt.Sprintf("finished %d steps, train_loss %.4f", r.step, trainLoss))
	ev.Train.Loss, ev.Train.Log = trainLoss, summary
	r.em.send(ev)
	return res, nil
}

func (r *runner) result() Result {
	res := Result{GlobalStep: r.step, MaxSteps: r.plan.total, Epoch: r.plan.epochAt(r.step),
		LogHistory: append([]LogEntry(nil), r.history...), Checkpoint: r.lastCheckpoint}
	if !r.start.IsZero() {
		res.Runtime = r.active()
	}
	if r.loop.LossSteps > 0 {
		res.TrainLoss = r.loop.TotalLoss / float64(r.loop.LossSteps)
	}
	return res
}

// logStart writes the Trainer's run banner to the log file.
func (r *runner) logStart() error {
	if r.log == nil {
		return nil
	}
	lines := []string{
		"***** Running training *****",
		fmt.Sprintf("  Num micro-batches per epoch = %d (%d rows)", r.plan.batches, r.rowsPerEpoch),
		fmt.Sprintf("  Num Epochs = %d", r.plan.numEpochs),
		fmt.Sprintf("  Gradient Accumulation steps = %d", r.plan.accum),
		fmt.Sprintf("  Total optimization steps = %d", r.plan.total),
		fmt.Sprintf("  Number of trainable parameters = %d", numel(r.o.Params)),
	}
	if r.step > 0 {
		lines = append(lines, fmt.Sprintf("  Continuing training from global step %d", r.step))
	}
	for _, l := range r.o.Warnings {
		if err := r.log.write(levelWarning, l); err != nil {
			return err
		}
	}
	for _, l := range lines {
		if err := r.log.info(l); err != nil {
			return err
		}
	}
	return nil
}

// numel is the number of trainable values.
func numel(params []*nn.Param) int {
	n := 0
	for _, p := range params {
		n += len(p.Data)
	}
	return n
}

// round rounds x to digits decimals like Python's round (correctly rounded,
// ties to even on the exact binary value).
func round(x float64, digits int) float64 {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return x
	}
	v, _ := strconv.ParseFloat(strconv.FormatFloat(x, 'f', digits, 64), 64)
	return v
}
