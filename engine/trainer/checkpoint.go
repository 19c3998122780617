package trainer

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	"qwentune/engine/nn"
	"qwentune/engine/progress"
	"qwentune/internal/atomicfile"
	"qwentune/model/safetensors"
)

// Files of a checkpoint folder besides the caller's adapter files.
const (
	TrainerStateFile = "trainer_state.json"
	TrainingArgsFile = "training_args.json"
	OptimizerFile    = "optimizer.safetensors"
	SchedulerFile    = "scheduler.json"
	RNGStateFile     = "rng_state.json"
	LoopStateFile    = "loop_state.json"
)

// checkpointPrefix starts every checkpoint folder name.
const checkpointPrefix = "checkpoint-"

// tmpMarker separates a checkpoint name from the random suffix of its
// temporary folder (checkpoint-N.tmp-XXXX).
const tmpMarker = ".tmp-"

// LogEntry is one log_history entry: "loss", "grad_norm", "learning_rate",
// "epoch", "step", or the summary's "train_runtime",
// "train_samples_per_second", "train_steps_per_second", "total_flos",
// "train_loss". JSON encodes its keys sorted, as the Trainer does.
type LogEntry map[string]float64

// TrainerState is trainer_state.json with the Trainer's field names (keys in
// the sorted order Python writes them).
type TrainerState struct {
	BestGlobalStep      *int           `json:"best_global_step"`
	BestMetric          *float64       `json:"best_metric"`
	BestModelCheckpoint *string        `json:"best_model_checkpoint"`
	Epoch               float64        `json:"epoch"`
	EvalSteps           int            `json:"eval_steps"`
	GlobalStep          int            `json:"global_step"`
	IsHyperParamSearch  bool           `json:"is_hyper_param_search"`
	IsLocalProcessZero  bool           `json:"is_local_process_zero"`
	IsWorldProcessZero  bool           `json:"is_world_process_zero"`
	LogHistory          []LogEntry     `json:"log_history"`
	LoggingSteps        int            `json:"logging_steps"`
	MaxSteps            int            `json:"max_steps"`
	NumInputTokensSeen  int64          `json:"num_input_tokens_seen"`
	NumTrainEpochs      int            `json:"num_train_epochs"`
	SaveSteps           int            `json:"save_steps"`
	StatefulCallbacks   map[string]any `json:"stateful_callbacks"`
	TotalFlos           float64        `json:"total_flos"`
	TrainBatchSize      int            `json:"train_batch_size"`
	TrialName           *string        `json:"trial_name"`
	TrialParams         map[string]any `json:"trial_params"`
}

// ReadTrainerState reads a trainer_state.json. Non-numeric values in
// log_history entries (which other tools may add) are skipped.
func ReadTrainerState(path string) (TrainerState, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return TrainerState{}, err
	}
	return parseTrainerState(data, path)
}

// parseTrainerState decodes trainer_state.json bytes; name labels errors.
func parseTrainerState(data []byte, name string) (TrainerState, error) {
	var raw struct {
		TrainerState
		LogHistory []map[string]any `json:"log_history"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return TrainerState{}, fmt.Errorf("%s: %w", name, err)
	}
	st := raw.TrainerState
	st.LogHistory = make([]LogEntry, 0, len(raw.LogHistory))
	for _, m := range raw.LogHistory {
		e := LogEntry{}
		for k, v := range m {
			if f, ok := v.(float64); ok {
				e[k] = f
			}
		}
		st.LogHistory = append(st.LogHistory, e)
	}
	if st.GlobalStep < 0 {
		return TrainerState{}, fmt.Errorf("%s: global_step %d is negative", name, st.GlobalStep)
	}
	return st, nil
}

// rngState is rng_state.json: where the data and dropout streams stand.
// Dropout seeds are a pure function of (seed, epoch, micro-batch index), so
// this is the whole random state of the loop.
type rngState struct {
	Seed         uint64 `json:"seed"`
	GlobalStep   int    `json:"global_step"`
	Epoch        int    `json:"epoch"`
	BatchInEpoch int    `json:"batch_in_epoch"`
}

// loopState is loop_state.json: the loss accumulators that make a resumed
// run's logs and train_loss equal the uninterrupted run's.
type loopState struct {
	Seed         uint64  `json:"-"`
	TotalLoss    float64 `json:"total_loss"`
	LossSteps    int     `json:"loss_steps"`
	LogLoss      float64 `json:"log_loss"`
	LogLossSteps int     `json:"log_loss_steps"`
}

// schedulerState is scheduler.json, shaped like torch's LambdaLR state dict
// plus the schedule's definition.
type schedulerState struct {
	Type             string    `json:"lr_scheduler_type"`
	BaseLRs          []float64 `json:"base_lrs"`
	LastEpoch        int       `json:"last_epoch"`
	StepCount        int       `json:"_step_count"`
	LastLR           []float64 `json:"_last_lr"`
	NumWarmupSteps   int       `json:"num_warmup_steps"`
	NumTrainingSteps int       `json:"num_training_steps"`
}

// trainingArgs is training_args.json: the options under TrainingArguments
// names (the Trainer pickles them to training_args.bin; we write JSON).
type trainingArgs struct {
	AdamBeta1                 float64 `json:"adam_beta1"`
	AdamBeta2                 float64 `json:"adam_beta2"`
	AdamEpsilon               float64 `json:"adam_epsilon"`
	GradientAccumulationSteps int     `json:"gradient_accumulation_steps"`
	LearningRate              float64 `json:"learning_rate"`
	LoggingSteps              int     `json:"logging_steps"`
	LrSchedulerType           string  `json:"lr_scheduler_type"`
	MaxGradNorm               float64 `json:"max_grad_norm"`
	MaxSteps                  int     `json:"max_steps"`
	NumTrainEpochs            float64 `json:"num_train_epochs"`
	Optim                     string  `json:"optim"`
	OutputDir                 string  `json:"output_dir"`
	PerDeviceTrainBatchSize   int     `json:"per_device_train_batch_size"`
	SaveSteps                 int     `json:"save_steps"`
	SaveTotalLimit            *int    `json:"save_total_limit"`
	Seed                      uint64  `json:"seed"`
	WarmupRatio               float64 `json:"warmup_ratio"`
	WarmupSteps               int     `json:"warmup_steps"`
	WeightDecay               float64 `json:"weight_decay"`
}

// trainerState renders the current state.
func (r *runner) trainerState() TrainerState {
	hist := r.history
	if hist == nil {
		hist = []LogEntry{}
	}
	return TrainerState{
		Epoch:              r.plan.epochAt(r.step),
		EvalSteps:          r.o.LoggingSteps,
		GlobalStep:         r.step,
		IsLocalProcessZero: true,
		IsWorldProcessZero: true,
		LogHistory:         hist,
		LoggingSteps:       r.o.LoggingSteps,
		MaxSteps:           r.plan.total,
		NumInputTokensSeen: r.inputTokens,
		NumTrainEpochs:     r.plan.numEpochs,
		SaveSteps:          r.o.SaveSteps,
		StatefulCallbacks: map[string]any{"TrainerControl": map[string]any{
			"args": map[string]bool{"should_epoch_stop": false, "should_evaluate": false, "should_log": false,
				"should_save": true, "should_training_stop": r.step >= r.plan.total},
			"attributes": map[string]any{},
		}},
		TotalFlos:      r.totalFlos,
		TrainBatchSize: r.o.BatchSize,
	}
}

// trainingArgs renders the options.
func (r *runner) trainingArgs() trainingArgs {
	a := trainingArgs{
		AdamBeta1: Beta1, AdamBeta2: Beta2, AdamEpsilon: Epsilon,
		GradientAccumulationSteps: r.plan.accum,
		LearningRate:              r.o.LearningRate,
		LoggingSteps:              r.o.LoggingSteps,
		LrSchedulerType:           r.sched.Kind,
		MaxGradNorm:               r.o.MaxGradNorm,
		MaxSteps:                  -1,
		NumTrainEpochs:            r.o.Epochs,
		Optim:                     torchOptim[r.o.Optimizer],
		OutputDir:                 r.o.OutputDir,
		PerDeviceTrainBatchSize:   r.o.BatchSize,
		SaveSteps:                 r.o.SaveSteps,
		Seed:                      r.o.Seed,
		WarmupRatio:               r.o.WarmupRatio,
		WarmupSteps:               r.o.WarmupSteps,
		WeightDecay:               r.o.WeightDecay,
	}
	if r.o.MaxSteps > 0 {
		a.MaxSteps = r.o.MaxSteps
	}
	if r.o.SaveTotalLimit > 0 {
		limit := r.o.SaveTotalLimit
		a.SaveTotalLimit = &limit
	}
	return a
}

// writeState writes trainer_state.json and training_args.json into dir.
func (r *runner) writeState(dir string) error {
	if err := atomicfile.WriteJSON(filepath.Join(dir, TrainerStateFile), r.trainerState()); err != nil {
		return err
	}
	return atomicfile.WriteJSON(filepath.Join(dir, TrainingArgsFile), r.trainingArgs())
}

// saveCheckpoint writes OutputDir/checkpoint-{step} atomically: everything
// goes into checkpoint-{step}.tmp-XXXX, which is renamed only when complete,
// so a crash mid-save leaves the earlier checkpoints as they were.
func (r *runner) saveCheckpoint() (dir string, err error) {
	name := checkpointPrefix + strconv.Itoa(r.step)
	final := filepath.Join(r.o.OutputDir, name)
	tmp, err := os.MkdirTemp(r.o.OutputDir, name+tmpMarker)
	if err != nil {
		return "", err
	}
	defer func() {
		if err != nil {
			_ = os.RemoveAll(tmp)
		}
	}()
	if err := r.o.SaveAdapter(tmp); err != nil {
		return "", fmt.Errorf("saving the weights: %w", err)
	}
	if err := r.opt.save(filepath.Join(tmp, OptimizerFile)); err != nil {
		return "", err
	}
	epoch, batch := r.plan.position(r.step)
	lr := r.sched.LR(r.step)
	files := []struct {
		name string
		v    any
	}{
		{SchedulerFile, schedulerState{Type: r.sched.Kind, BaseLRs: []float64{r.sched.BaseLR}, LastEpoch: r.step,
			StepCount: r.step + 1, LastLR: []float64{lr}, NumWarmupSteps: r.sched.Warmup, NumTrainingSteps: r.sched.Total}},
		{RNGStateFile, rngState{Seed: r.loop.Seed, GlobalStep: r.step, Epoch: epoch, BatchInEpoch: batch}},
		{LoopStateFile, r.loop},
	}
	for _, f := range files {
		if err := atomicfile.WriteJSON(filepath.Join(tmp, f.name), f.v); err != nil {
			return "", err
		}
	}
	for name, content := range r.o.Extra {
		if err := atomicfile.WriteFile(filepath.Join(tmp, name), []byte(content)); err != nil {
			return "", err
		}
	}
	if err := r.writeState(tmp); err != nil {
		return "", err
	}
	if err := writeManifest(tmp); err != nil {
		return "", err
	}
	if err := syncDir(tmp); err != nil {
		return "", err
	}
	if _, err := os.Stat(final); err == nil {
		old := tmp + "-old"
		if err := os.Rename(final, old); err != nil {
			return "", err
		}
		defer os.RemoveAll(old)
	}
	if err := os.Rename(tmp, final); err != nil {
		return "", err
	}
	if err := syncDir(r.o.OutputDir); err != nil {
		return "", err
	}
	if r.o.SaveTotalLimit > 0 {
		if err := rotateCheckpoints(r.o.OutputDir, r.o.SaveTotalLimit, r.resumedFrom); err != nil {
			return "", err
		}
	}
	return final, nil
}

// checkpointStep parses "checkpoint-N" into N.
func checkpointStep(name string) (int, bool) {
	rest, ok := strings.CutPrefix(name, checkpointPrefix)
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(rest)
	if err != nil || n < 0 || strconv.Itoa(n) != rest {
		return 0, false
	}
	return n, true
}

// Checkpoints lists the checkpoint-N folders in outputDir, oldest step
// first; unfinished temporary folders are not listed.
func Checkpoints(outputDir string) ([]string, error) {
	entries, err := os.ReadDir(outputDir)
	if err != nil {
		return nil, err
	}
	type ck struct {
		step int
		path string
	}
	var cks []ck
	for _, e := range entries {
		if n, ok := checkpointStep(e.Name()); ok && e.IsDir() {
			cks = append(cks, ck{n, filepath.Join(outputDir, e.Name())})
		}
	}
	sort.Slice(cks, func(i, j int) bool { return cks[i].step < cks[j].step })
	out := make([]string, len(cks))
	for i, c := range cks {
		out[i] = c.path
	}
	return out, nil
}

// LatestCheckpoint returns the checkpoint-N folder with the highest N in
// outputDir, or "" when there is none.
func LatestCheckpoint(outputDir string) (string, error) {
	cks, err := Checkpoints(outputDir)
	if err != nil || len(cks) == 0 {
		if errors.Is(err, fs.ErrNotExist) {
			err = nil
		}
		return "", err
	}
	return cks[len(cks)-1], nil
}

// rotateCheckpoints deletes the oldest checkpoints beyond limit, as the
// Trainer's _rotate_checkpoints does without load_best_model_at_end: the
// newest limit checkpoints stay. keep (the checkpoint the run resumed from,
// or "") is never deleted, so a crash before the next save can still
// resume where this run began.
func rotateCheckpoints(outputDir string, limit int, keep string) error {
	cks, err := Checkpoints(outputDir)
	if err != nil {
		return err
	}
	for _, ck := range cks[:max(0, len(cks)-limit)] {
		if keep != "" && sameDir(ck, keep) {
			continue
		}
		if err := os.RemoveAll(ck); err != nil {
			return err
		}
	}
	return nil
}

// sameDir reports whether a and b name the same folder.
func sameDir(a, b string) bool {
	aa, err1 := filepath.Abs(a)
	bb, err2 := filepath.Abs(b)
	return err1 == nil && err2 == nil && aa == bb
}

// removeStaleTemps deletes checkpoint-N.tmp-XXXX folders left by a crash
// mid-save.
func removeStaleTemps(outputDir string) error {
	entries, err := os.ReadDir(outputDir)
	if err != nil {
		return fmt.Errorf("train: %w", err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), checkpointPrefix) && strings.Contains(e.Name(), tmpMarker) {
			if err := os.RemoveAll(filepath.Join(outputDir, e.Name())); err != nil {
				return fmt.Errorf("train: removing an unfinished checkpoint: %w", err)
			}
		}
	}
	return nil
}

// resume restores the run from o.ResumeFrom.
func (r *runner) resume() error {
	dir := r.o.ResumeFrom
	if dir == "latest" {
		latest, skipped, err := LatestIntactCheckpoint(r.o.OutputDir)
		if err != nil {
			return fmt.Errorf("train: resume: %w", err)
		}
		for _, s := range skipped {
			r.em.send(progress.Event{Kind: progress.Info, Message: fmt.Sprintf("warning: %v; skipped", s)})
		}
		if latest == "" {
			if len(skipped) > 0 {
				return fmt.Errorf("train: resume: no intact checkpoint in %s: %w", r.o.OutputDir, errors.Join(skipped...))
			}
			return fmt.Errorf("train: resume: no checkpoint-N folder in %s", r.o.OutputDir)
		}
		if len(skipped) > 0 {
			r.em.send(progress.Event{Kind: progress.Info, Message: fmt.Sprintf("resuming from %s, the newest intact checkpoint", latest)})
		}
		dir = latest
	}
	wrap := func(err error) error { return fmt.Errorf("train: resume from %s: %w", dir, err) }
	if err := VerifyCheckpoint(dir); err != nil {
		return fmt.Errorf("train: resume: %w (resume from an earlier checkpoint, or --resume without a folder to take the newest intact one)", err)
	}
	if r.o.CheckResume != nil {
		if err := r.o.CheckResume(dir); err != nil {
			return fmt.Errorf("train: resume from %s: %w", dir, err)
		}
	}
	st, err := ReadTrainerState(filepath.Join(dir, TrainerStateFile))
	if err != nil {
		return wrap(err)
	}
	var rng rngState
	var loop loopState
	var sch schedulerState
	for _, f := range []struct {
		name string
		v    any
	}{{RNGStateFile, &rng}, {LoopStateFile, &loop}, {SchedulerFile, &sch}} {
		if err := readJSON(filepath.Join(dir, f.name), f.v); err != nil {
			return wrap(err)
		}
	}
	k := st.GlobalStep
	if rng.GlobalStep != k || sch.LastEpoch != k {
		return wrap(fmt.Errorf("%s says step %d, %s %d, %s %d: the checkpoint is inconsistent",
			TrainerStateFile, k, RNGStateFile, rng.GlobalStep, SchedulerFile, sch.LastEpoch))
	}
	if epoch, batch := r.plan.position(k); epoch != rng.Epoch || batch != rng.BatchInEpoch {
		return wrap(fmt.Errorf("step %d was epoch %d micro-batch %d, but with the current data (%d micro-batches, accumulation %d) it is epoch %d micro-batch %d: the data or batching changed",
			k, rng.Epoch+1, rng.BatchInEpoch, r.plan.batches, r.plan.accum, epoch+1, batch))
	}
	if err := r.o.LoadAdapter(dir); err != nil {
		return wrap(err)
	}
	if err := r.opt.load(filepath.Join(dir, OptimizerFile), k); err != nil {
		return wrap(err)
	}
	r.step = k
	r.history = st.LogHistory
	r.totalFlos = st.TotalFlos
	r.inputTokens = st.NumInputTokensSeen
	r.loop = loop
	r.loop.Seed = rng.Seed
	r.lastCheckpoint, r.resumedFrom = dir, dir
	if abs, err := filepath.Abs(filepath.Dir(dir)); err == nil {
		if out, err := filepath.Abs(r.o.OutputDir); err == nil && abs == out {
			r.savedStep = k
		}
	}
	return nil
}

// save writes the moments as "{name}.exp_avg" and "{name}.exp_avg_sq" F32
// tensors, with the step count in the metadata.
func (a *adamW) save(path string) error {
	tensors := make([]safetensors.Tensor, 0, 2*len(a.params))
	for i, p := range a.params {
		tensors = append(tensors,
			safetensors.Tensor{Name: p.Name + ".exp_avg", DType: "F32", Shape: paramShape(p), Data: f32Bytes(a.expAvg[i])},
			safetensors.Tensor{Name: p.Name + ".exp_avg_sq", DType: "F32", Shape: paramShape(p), Data: f32Bytes(a.expSq[i])})
	}
	meta := map[string]string{"optimizer": "adamw_torch", "step": strconv.Itoa(a.step),
		"betas": fmt.Sprintf("%g,%g", Beta1, Beta2), "eps": fmt.Sprintf("%g", Epsilon)}
	return safetensors.Write(path, tensors, meta)
}

// load restores the moments saved by save, checking the step is wantStep.
func (a *adamW) load(path string, wantStep int) error {
	f, err := safetensors.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	step, err := strconv.Atoi(f.Metadata()["step"])
	if err != nil || step != wantStep {
		return fmt.Errorf("%s: metadata step %q, want %d", path, f.Metadata()["step"], wantStep)
	}
	for i, p := range a.params {
		for _, m := range []struct {
			suffix string
			dst    []float32
		}{{".exp_avg", a.expAvg[i]}, {".exp_avg_sq", a.expSq[i]}} {
			if err := readF32(f, p.Name+m.suffix, m.dst); err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
		}
	}
	a.step = step
	return nil
}

// paramShape is p.Shape, or [len(Data)] when no shape is recorded.
func paramShape(p *nn.Param) []int {
	if len(p.Shape) == 0 {
		return []int{len(p.Data)}
	}
	return p.Shape
}

// SaveParams writes params' values as F32 tensors named by Param.Name into
// one safetensors file, atomically.
func SaveParams(path string, params []*nn.Param) error {
	tensors := make([]safetensors.Tensor, len(params))
	for i, p := range params {
		tensors[i] = safetensors.Tensor{Name: p.Name, DType: "F32", Shape: paramShape(p), Data: f32Bytes(p.Data)}
	}
	return safetensors.Write(path, tensors, map[string]string{"format": "pt"})
}

// LoadParams reads every param's values from the F32 tensor of the same name
// in the safetensors file at path.
func LoadParams(path string, params []*nn.Param) error {
	f, err := safetensors.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	for _, p := range params {
		if err := readF32(f, p.Name, p.Data); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
	}
	return nil
}

// readF32 copies the F32 tensor name of f into dst, whose length it must
// have.
func readF32(f *safetensors.File, name string, dst []float32) error {
	t, ok := f.Tensor(name)
	if !ok {
		return fmt.Errorf("tensor %q missing", name)
	}
	if t.DType != "F32" {
		return fmt.Errorf("tensor %q: dtype %s, want F32", name, t.DType)
	}
	if t.NumElements() != len(dst) || len(t.Data) != 4*len(dst) {
		return fmt.Errorf("tensor %q: shape %v, want %d values", name, t.Shape, len(dst))
	}
	for i := range dst {
		dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(t.Data[4*i:]))
	}
	return nil
}

// f32Bytes encodes v little-endian.
func f32Bytes(v []float32) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return b
}

// readJSON decodes the JSON file at path into v.
func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// syncDir flushes a folder's entries to disk. Windows cannot flush a
// folder (a folder handle is not writable: access denied); NTFS journals
// the renames itself, so there it does nothing.
func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// OptimizerAdamW is the one optimizer: torch's AdamW.
const OptimizerAdamW = "adamw"

// torchOptim is each optimizer's TrainingArguments.optim name.
var torchOptim = map[string]string{OptimizerAdamW: "adamw_torch"}

// Log levels, least severe first, as Python's logging names them.
const (
	levelDebug   = "DEBUG"
	levelInfo    = "INFO"
	levelWarning = "WARNING"
	levelError   = "ERROR"
)

var levelRank = map[string]int{levelDebug: 0, levelInfo: 1, levelWarning: 2, levelError: 3}

// logFile appends lines in Python logging's default format
// "2026-11-25 01:49:06,123 - INFO - message", leaving out those less severe
// than its level.
type logFile struct {
	f   *os.File
	min int
}

// openLog opens path for appending lines of level (DEBUG, INFO, WARNING or
// ERROR, any case; "" is INFO) and above.
func openLog(path, level string) (*logFile, error) {
	if level == "" {
		level = levelInfo
	}
	min, ok := levelRank[strings.ToUpper(level)]
	if !ok {
		return nil, fmt.Errorf("train: log level %q: want DEBUG, INFO, WARNING or ERROR", level)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("train: log file: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("train: log file: %w", err)
	}
	return &logFile{f: f, min: min}, nil
}

// enabled reports whether lines of level reach the file.
func (l *logFile) enabled(level string) bool { return levelRank[level] >= l.min }

// write appends msg at level when the file's level lets it through.
func (l *logFile) write(level, msg string) error {
	if !l.enabled(level) {
		return nil
	}
	_, err := fmt.Fprintf(l.f, "%s - %s - %s\n", time.Now().Format("2006-01-02 15:04:05,000"), level, msg)
	if err != nil {
		return fmt.Errorf("train: log file: %w", err)
	}
	return nil
}

func (l *logFile) info(msg string) error { return l.write(levelInfo, msg) }

// entry writes a log_history entry as JSON.
func (l *logFile) entry(e LogEntry) error {
	b, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("train: log entry: %w", err)
	}
	return l.info(string(b))
}

func (l *logFile) close() { l.f.Close() }
