package engine

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"qwentune/engine/config"
	"qwentune/engine/dataset"
	"qwentune/engine/formats"
	"qwentune/engine/nn"
	"qwentune/engine/progress"
	"qwentune/engine/trainer"
	"qwentune/model"
	"qwentune/model/peft"
)

// TrainOptions are the per-run choices that are not part of config.yml.
type TrainOptions struct {
	// Resume is a checkpoint folder or "latest"; "" starts afresh.
	Resume string
	// InitAdapter starts LoRA from an existing PEFT adapter folder.
	InitAdapter string
	// Control pauses and stops the run (nil: only ctx stops it).
	Control *trainer.Control
	// PreflightSteps optimizer steps are measured before a fresh run (0:
	// skip; a resumed run is never measured).
	PreflightSteps int
	// ResumeChanged resumes even when the data or the config differ from
	// the checkpoint's (a ChangedError otherwise); the differences are
	// reported as a warning.
	ResumeChanged bool
	// Overwrite lets a fresh run replace the run already in
	// training.output_dir (a trainer.RunExistsError otherwise).
	Overwrite bool
}

// RunFiles are the files besides the weights that make a run reproducible.
const (
	ResolvedConfigFile = "run_config.yml"
	DatasetHashFile    = "dataset.sha256"
)

// maxWarnings is how many lint warnings a run reports one by one.
const maxWarnings = 20

// Train fine-tunes the session's model on data, the training file as it was
// inspected (see InspectDataset and Dataset.Check: data made from another
// file, other settings or a file changed since is refused), as cfg says
// (LoRA, or every weight with training.mode: full), and writes the adapter
// (or model), the tokenizer files, trainer_state.json, checkpoints and the
// log into training.output_dir. on receives the run's events: the data
// warnings and the trainable-parameter line (Info), the pre-flight
// Estimate, then the trainer's step, log, checkpoint, pause, resume,
// stopped, done or error events. Cancelling ctx or o.Control.Stop() stops
// after saving a checkpoint.
//
// The run is recorded in the run history (and, with logging.report_to:
// tensorboard, in event files under output_dir/runs); a failure there is a
// warning, never the run's.
func (s *Session) Train(ctx context.Context, cfg config.Config, data *Dataset, o TrainOptions, on progress.Func) (trainer.Result, error) {
	h := recordTrain(cfg, data, o, on)
	res, err := s.train(ctx, cfg, data, o, h.tee)
	h.end(err)
	return res, err
}

// train is Train without the history.
func (s *Session) train(ctx context.Context, cfg config.Config, data *Dataset, o TrainOptions, on progress.Func) (trainer.Result, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := data.Check(cfg.Dataset, s.Tokenizer); err != nil {
		return trainer.Result{}, err
	}
	tc := cfg.Training
	var warnings []string
	for i, l := range data.Lints {
		if i == maxWarnings {
			warnings = append(warnings, fmt.Sprintf("%s: %d more warnings (qwentune data inspect lists them all)", data.File, len(data.Lints)-maxWarnings))
			break
		}
		warnings = append(warnings, fmt.Sprintf("%s:%d: %s", data.File, l.Line, l.Message))
	}
	for _, w := range warnings {
		on.Info("warning: %s", w)
	}

	full := tc.Mode == "full"
	var params []*nn.Param
	var adapter *nn.Adapter
	var trainable, all int64
	var err error
	if full {
		if params, err = s.Model.TrainAll(); err != nil {
			return trainer.Result{}, err
		}
		for _, p := range params {
			trainable += int64(len(p.Data))
		}
		all = s.Model.NumParams()
	} else {
		if o.InitAdapter != "" {
			if adapter, err = s.LoadAdapter(o.InitAdapter); err != nil {
				return trainer.Result{}, err
			}
		} else if adapter, err = s.Model.NewAdapter(LoRAConfig(cfg.LoRA), int64(tc.Seed)); err != nil {
			return trainer.Result{}, err
		} else if w := rankWarning(s.Config, cfg.LoRA); w != "" {
			on.Info("warning: %s", w)
		}
		params = adapter.Params()
		trainable = adapter.NumParams()
		all = s.Model.NumParams() + trainable
		s.Model.SetAdapter(adapter)
		defer s.Model.SetAdapter(nil)
	}
	on.Info("%s", peft.TrainableLine(trainable, all))
	s.Model.TrainOptions.Recompute = tc.Recompute
	defer s.Model.ReleaseWorkspace()

	resolved, err := cfg.Marshal()
	if err != nil {
		return trainer.Result{}, err
	}
	ex := data.Examples
	batchSize := tc.BatchSize
	opts := trainer.Options{
		OutputDir: tc.OutputDir, Epochs: float64(tc.Epochs), MaxSteps: tc.MaxSteps, BatchSize: batchSize,
		GradAccum: tc.GradientAccumulationSteps, LearningRate: tc.LearningRate, Scheduler: tc.LRScheduler,
		WarmupSteps: tc.WarmupSteps, WarmupRatio: tc.WarmupRatio, WeightDecay: tc.WeightDecay,
		MaxGradNorm: tc.MaxGradNorm, LoggingSteps: tc.LoggingSteps, SaveSteps: tc.SaveSteps, SaveTotalLimit: tc.SaveTotalLimit,
		Optimizer: tc.Optimizer, Seed: uint64(tc.Seed), LogFile: logPath(cfg), LogLevel: cfg.Logging.Level, Warnings: warnings,
		FLOPsPerToken: 2 * s.ForwardFLOPs(),
		ResumeFrom:    o.Resume, Overwrite: o.Overwrite, Params: params, Control: o.Control,
		Batches: func(epoch int) []nn.Batch {
			return dataset.Batches(ex, batchSize, cfg.Dataset.Padding, cfg.Dataset.MaxLength, s.Tokenizer.Pad(), int64(tc.Seed), epoch)
		},
		Extra: map[string]string{ResolvedConfigFile: string(resolved), DatasetHashFile: data.SHA256 + "  " + filepath.Base(data.File) + "\n"},
	}
	opts.CheckResume = func(dir string) error {
		err := compareResume(dir, resolved, data.SHA256)
		var ce *ChangedError
		if o.ResumeChanged && errors.As(err, &ce) {
			on.Info("warning: resuming with changes, as asked: %s", strings.Join(ce.Details, "; "))
			return nil
		}
		return err
	}
	if full {
		opts.SaveAdapter = func(dir string) error { return s.saveFullModel(dir) }
	} else {
		base := cfg.Model.Name
		opts.SaveAdapter = func(dir string) error {
			if err := peft.Save(dir, adapter.ToPEFT(base)); err != nil {
				return err
			}
			return s.Tokenizer.SaveFiles(dir)
		}
	}
	if o.PreflightSteps > 0 && o.Resume == "" {
		// The weights are already in memory; a run adds the rest.
		mem := s.EstimateMemory(cfg)
		on.Info("memory estimate from the config (%s weights): %s", s.DType, mem)
		if err := trainer.CheckMemory(mem.Activations + mem.Optimizer); err != nil {
			return trainer.Result{}, err
		}
		est, err := trainer.Preflight(ctx, s.Model, opts, o.PreflightSteps)
		if err != nil {
			return trainer.Result{}, fmt.Errorf("pre-flight: %w", err)
		}
		on.Emit(progress.Event{Kind: progress.Preflight, Message: "pre-flight (" + s.ComputeDType + " compute on " + ComputeKernels(s.ComputeDType) + "): " + est.String(), Estimate: &est})
	}
	return trainer.Run(ctx, s.Model, opts, on)
}

// LoRAConfig is the lora section of config.yml as the model takes it: the
// one conversion between the two (the model's PEFT() is the one into
// adapter_config.json, where all-linear is expanded).
func LoRAConfig(c config.LoRAConfig) nn.LoRAConfig {
	return nn.LoRAConfig{R: c.R, Alpha: c.Alpha, Dropout: c.Dropout, TargetModules: append([]string(nil), c.TargetModules...), UseRSLoRA: c.UseRSLoRA}
}

// logPath puts logging.file inside the output folder unless it is absolute.
func logPath(cfg config.Config) string {
	f := cfg.Logging.File
	if f == "" || filepath.IsAbs(f) {
		return f
	}
	return filepath.Join(cfg.Training.OutputDir, f)
}

// ForwardFLOPs is the forward cost of one token: 2·N, N the number of
// weights every token multiplies. The embedding lookup is free and the head
// is not: a tied matrix is counted once, as the head; an untied embedding is
// left out. With a frozen base, training costs twice this per token (the
// forward and the input gradients; no weight gradients).
func (s *Session) ForwardFLOPs() float64 {
	c := s.Config
	n := s.Model.NumParams()
	if !c.TieWordEmbeddings {
		n -= int64(c.VocabSize) * int64(c.HiddenSize)
	}
	return 2 * float64(n)
}

// saveFullModel writes the whole model (after full-parameter training) as a
// Hugging Face folder with formats.WriteHF, the one folder writer:
// config.json, generation_config.json, model.safetensors (float32) and the
// tokenizer files.
func (s *Session) saveFullModel(dir string) error {
	return formats.WriteHF(context.Background(), dir, s.Model, s.Gen, s.Tokenizer, formats.HFOptions{DType: formats.F32}, nil)
}

// MemoryEstimate is what a training run will hold, computed from the model
// and config.yml before any step runs (the pre-flight then measures it).
type MemoryEstimate struct {
	Weights     int64 // the loaded model (q8_0: 34 bytes per 32 values)
	Activations int64 // one micro-batch at max_length, kept for the backward pass (all layers', or with recompute one layer's and the layer inputs)
	// Optimizer is the trainable values' state: for LoRA the adapter's
	// values, gradients and AdamW's two moments (16 bytes a value), for
	// full training the gradients and moments (12; the values are the
	// weights).
	Optimizer int64
	// Eval is what evaluation's batched decoding adds to the weights and
	// the adapter: the key/value caches and scratch of evaluation.batch_size
	// rows of max_length + evaluation.max_new_tokens tokens. Training
	// releases its activations first, so it is not part of Total.
	Eval      int64
	Available int64 // MemAvailable now, 0 when unknown
}

// Total is the training run's estimated footprint.
func (e MemoryEstimate) Total() int64 { return e.Weights + e.Activations + e.Optimizer }

// String is one line for people.
func (e MemoryEstimate) String() string {
	s := fmt.Sprintf("about %s: weights %s, activations %s, optimizer %s", model.ByteSize(e.Total()), model.ByteSize(e.Weights), model.ByteSize(e.Activations), model.ByteSize(e.Optimizer))
	if e.Eval > 0 {
		s += fmt.Sprintf(" (evaluation: %s of caches instead of the activations)", model.ByteSize(e.Eval))
	}
	if e.Available > 0 {
		s += fmt.Sprintf("; %s available", model.ByteSize(e.Available))
		if e.Activations+e.Optimizer > e.Available {
			s += " — not enough: lower max_length or batch_size, or turn on training.recompute"
		}
	}
	return s
}

// EstimateMemory computes the training footprint of cfg on this session's
// model without running a step.
func (s *Session) EstimateMemory(cfg config.Config) MemoryEstimate {
	rows := max(1, cfg.Training.BatchSize)
	lc := LoRAConfig(cfg.LoRA)
	_, act, err := nn.EstimateConfig(s.Config, s.DType, rows, cfg.Dataset.MaxLength, lc, nn.TrainOptions{Recompute: cfg.Training.Recompute})
	if err != nil {
		_, act = s.Model.Estimate(cfg.Dataset.MaxLength*rows, lc)
	}
	avail, _ := trainer.MemAvailable()
	return MemoryEstimate{Weights: s.Model.WeightBytes(), Activations: act, Optimizer: optimizerBytes(s.Config, cfg),
		Eval: evalBytes(s.Config, cfg), Available: avail}
}

// optimizerBytes is MemoryEstimate.Optimizer for a model with config c
// trained with cfg.
func optimizerBytes(c model.Config, cfg config.Config) int64 {
	if cfg.Training.Mode == "full" {
		return 12 * c.ParamCount()
	}
	pc := LoRAConfig(cfg.LoRA).PEFT()
	return 16 * pc.CountLoRA(c)
}

// evalBytes is MemoryEstimate.Eval (0 when the config cannot say).
func evalBytes(c model.Config, cfg config.Config) int64 {
	lc := LoRAConfig(cfg.LoRA)
	if cfg.Training.Mode == "full" {
		lc = nn.LoRAConfig{}
	}
	n, err := nn.EstimateEval(c, max(1, cfg.Evaluation.BatchSize), max(1, cfg.Dataset.MaxLength), cfg.Evaluation.MaxNewTokens, lc)
	if err != nil {
		return 0
	}
	return n
}

// rankWarning says when lora.r exceeds a targeted layer's width min(in,
// out). A rank-r update B·A of an in×out matrix has rank at most min(in,
// out), so the extra rank only adds trainable values; PEFT accepts it and
// training still matches PEFT, hence a warning, not an error.
func rankWarning(c model.Config, l config.LoRAConfig) string {
	q, kv := c.NumAttentionHeads*c.HeadDim, c.NumKeyValueHeads*c.HeadDim
	dims := map[string][2]int{
		"q_proj": {c.HiddenSize, q}, "k_proj": {c.HiddenSize, kv}, "v_proj": {c.HiddenSize, kv}, "o_proj": {q, c.HiddenSize},
		"gate_proj": {c.HiddenSize, c.IntermediateSize}, "up_proj": {c.HiddenSize, c.IntermediateSize}, "down_proj": {c.IntermediateSize, c.HiddenSize},
	}
	targets := l.TargetModules
	if len(targets) == 1 && targets[0] == "all-linear" {
		targets = []string{"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}
	}
	var over []string
	for _, t := range targets {
		d, ok := dims[t]
		if w := min(d[0], d[1]); ok && l.R > w {
			over = append(over, fmt.Sprintf("%s (%d)", t, w))
		}
	}
	if len(over) == 0 {
		return ""
	}
	return fmt.Sprintf("lora.r %d is above the width min(in, out) of %s: an update of rank r cannot exceed that width, so the extra rank adds trainable values but no capacity (lower lora.r)",
		l.R, strings.Join(over, ", "))
}
