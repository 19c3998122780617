package engine

import (
	"context"
	"fmt"
	"path/filepath"

	"qwentune/engine/config"
	"qwentune/engine/dataset"
	"qwentune/engine/formats"
	"qwentune/engine/nn"
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
	// Log receives human-readable lines (the trainable-parameter line, the
	// pre-flight estimate); nil discards them.
	Log func(string)
}

// TrainPlan is what a run will do, known before it starts.
type TrainPlan struct {
	Examples      []dataset.Example
	Lints         []dataset.Lint
	TrainedTokens int
	Trainable     int64
	AllParams     int64
	TrainableLine string
	DatasetSHA256 string
	Estimate      *trainer.Estimate
}

// RunFiles are the files besides the weights that make a run reproducible.
const (
	ResolvedConfigFile = "run_config.yml"
	DatasetHashFile    = "dataset.sha256"
)

// Train fine-tunes the session's model as cfg says (LoRA, or every weight
// with training.mode: full) and writes the adapter (or model), the tokenizer
// files, trainer_state.json, checkpoints and the log into
// training.output_dir. Events report progress; cancelling ctx or
// o.Control.Stop() stops after saving a checkpoint.
func (s *Session) Train(ctx context.Context, cfg config.Config, o TrainOptions, events chan<- trainer.Event) (trainer.Result, TrainPlan, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	logf := func(format string, a ...any) {
		if o.Log != nil {
			o.Log(fmt.Sprintf(format, a...))
		}
	}
	var plan TrainPlan
	tc := cfg.Training
	ex, err := dataset.Load(cfg.Dataset.TrainFile, s.Tokenizer, dataset.OptionsFrom(cfg.Dataset))
	if err != nil {
		return trainer.Result{}, plan, err
	}
	plan.Examples = ex
	plan.Lints = dataset.Lints(ex)
	for i, l := range plan.Lints {
		if i == 20 {
			logf("warning: %s: %d more warnings (qwentune data inspect lists them all)", cfg.Dataset.TrainFile, len(plan.Lints)-20)
			break
		}
		logf("warning: %s:%d: %s", cfg.Dataset.TrainFile, l.Line, l.Message)
	}
	for _, e := range ex {
		plan.TrainedTokens += e.TrainedTokens()
	}
	if plan.TrainedTokens == 0 {
		return trainer.Result{}, plan, fmt.Errorf("%s: no row has a token to train on (check dataset.loss_on and the rows' completions)", cfg.Dataset.TrainFile)
	}
	if plan.DatasetSHA256, err = dataset.SHA256(cfg.Dataset.TrainFile); err != nil {
		return trainer.Result{}, plan, err
	}

	full := tc.Mode == "full"
	var params []*nn.Param
	var adapter *nn.Adapter
	if full {
		if params, err = s.Model.TrainAll(); err != nil {
			return trainer.Result{}, plan, err
		}
		for _, p := range params {
			plan.Trainable += int64(len(p.Data))
		}
		plan.AllParams = s.Model.NumParams()
	} else {
		lc := LoRAConfig(cfg.LoRA)
		if o.InitAdapter != "" {
			if adapter, err = s.LoadAdapter(o.InitAdapter); err != nil {
				return trainer.Result{}, plan, err
			}
		} else if adapter, err = s.Model.NewAdapter(lc, int64(tc.Seed)); err != nil {
			return trainer.Result{}, plan, err
		}
		params = adapter.Params()
		plan.Trainable = adapter.NumParams()
		plan.AllParams = s.Model.NumParams() + plan.Trainable
		s.Model.SetAdapter(adapter)
		defer s.Model.SetAdapter(nil)
	}
	plan.TrainableLine = peft.TrainableLine(plan.Trainable, plan.AllParams)
	logf("%s", plan.TrainableLine)
	s.Model.TrainOptions.Recompute = tc.Recompute
	defer s.Model.ReleaseWorkspace()

	resolved, err := cfg.Marshal()
	if err != nil {
		return trainer.Result{}, plan, err
	}
	batchSize := tc.BatchSize
	opts := trainer.Options{
		OutputDir: tc.OutputDir, Epochs: float64(tc.Epochs), MaxSteps: tc.MaxSteps, BatchSize: batchSize,
		GradAccum: tc.GradientAccumulationSteps, LearningRate: tc.LearningRate, Scheduler: tc.LRScheduler,
		WarmupSteps: tc.WarmupSteps, WarmupRatio: tc.WarmupRatio, WeightDecay: tc.WeightDecay,
		MaxGradNorm: tc.MaxGradNorm, LoggingSteps: tc.LoggingSteps, SaveSteps: tc.SaveSteps,
		Seed: uint64(tc.Seed), LogFile: logPath(cfg), FLOPsPerToken: 2 * s.ForwardFLOPs(),
		ResumeFrom: o.Resume, Params: params, Control: o.Control,
		Batches: func(epoch int) []nn.Batch {
			return dataset.Batches(ex, batchSize, cfg.Dataset.Padding, cfg.Dataset.MaxLength, s.Tokenizer.Pad(), int64(tc.Seed), epoch)
		},
		Extra: map[string]string{ResolvedConfigFile: string(resolved), DatasetHashFile: plan.DatasetSHA256 + "  " + filepath.Base(cfg.Dataset.TrainFile) + "\n"},
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
		if err := trainer.CheckMemory(mem.Activations + mem.Optimizer); err != nil {
			return trainer.Result{}, plan, err
		}
		est, err := trainer.Preflight(ctx, s.Model, opts, o.PreflightSteps)
		if err != nil {
			return trainer.Result{}, plan, fmt.Errorf("pre-flight: %w", err)
		}
		plan.Estimate = &est
		logf("pre-flight: %s", est)
	}
	res, err := trainer.Run(ctx, s.Model, opts, events)
	return res, plan, err
}

// LoRAConfig converts the lora section of config.yml.
func LoRAConfig(c config.LoRAConfig) nn.LoRAConfig {
	return nn.LoRAConfig{R: c.R, Alpha: c.Alpha, Dropout: c.Dropout, TargetModules: c.Modules(), UseRSLoRA: c.UseRSLoRA}
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
	Weights     int64 // the loaded model
	Activations int64 // one micro-batch at max_length, kept for the backward pass
	Optimizer   int64 // gradients and AdamW's two moments of the trainable values
	Available   int64 // MemAvailable now, 0 when unknown
}

// Total is the whole run's estimated footprint.
func (e MemoryEstimate) Total() int64 { return e.Weights + e.Activations + e.Optimizer }

// String is one line for people.
func (e MemoryEstimate) String() string {
	s := fmt.Sprintf("about %s: weights %s, activations %s, optimizer %s", model.ByteSize(e.Total()), model.ByteSize(e.Weights), model.ByteSize(e.Activations), model.ByteSize(e.Optimizer))
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
	trainable := s.Model.NumParams()
	if cfg.Training.Mode != "full" {
		pc := lc.PEFT()
		trainable = pc.CountLoRA(s.Config)
	}
	avail, _ := trainer.MemAvailable()
	return MemoryEstimate{Weights: s.Model.WeightBytes(), Activations: act, Optimizer: 12 * trainable, Available: avail}
}
