package engine

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"qwentune/engine/config"
	"qwentune/engine/progress"
	"qwentune/engine/runs"
	"qwentune/engine/tensorboard"
	"qwentune/engine/trainer"
)

// This file records every training and evaluation run in the run history
// (engine/runs) and, with logging.report_to: tensorboard, reports the
// Trainer's scalars as TensorBoard event files. Neither is the job itself: a
// failure of either is reported as a warning (an Info event) and never fails
// the run.

// ReportTensorBoard is the logging.report_to value that writes event files.
const ReportTensorBoard = "tensorboard"

// TensorBoardDir is the folder, inside training.output_dir, that holds a
// training run's event files (point `tensorboard --logdir` at it). The
// Trainer writes a sub-folder per call (output_dir/runs/<date>_<host>); one
// folder for every call of a run lets a resumed call's START event drop the
// steps it redoes, so TensorBoard shows one curve that never doubles back.
const TensorBoardDir = "runs"

// trainHistory follows one training run: its record in the history and its
// event files.
type trainHistory struct {
	on progress.Func
	id string // "" when the history could not be written
	// tbDir is where event files go, "" when report_to is none; tb is
	// opened at the first log entry, so a run that fails before its first
	// step leaves no empty event file.
	tbDir       string
	tb          *tensorboard.Writer
	resumedStep int // the checkpoint's step for a resumed run, else -1
	warned      map[string]bool
}

// recordTrain starts the history record of a training run (Start) and
// returns what follows it: pass its tee to the run as the event callback
// and call end with the run's error.
func recordTrain(cfg config.Config, data *Dataset, o TrainOptions, on progress.Func) *trainHistory {
	h := &trainHistory{on: on, resumedStep: -1, warned: map[string]bool{}}
	out := cfg.Training.OutputDir
	rec := runs.Record{Kind: runs.Train, Model: cfg.Model.Name, Dir: out}
	if cfg.Training.Mode != "full" {
		rec.Adapter = out
	}
	if data != nil {
		rec.DataFile, rec.DataSHA256 = absPath(data.File), data.SHA256
	}
	if b, err := cfg.Marshal(); err == nil {
		rec.Config = string(b)
	}
	if o.Resume != "" {
		ck := o.Resume
		if ck == "latest" {
			ck, _ = trainer.LatestCheckpoint(out)
		}
		if ck != "" {
			rec.Resumed = absPath(ck)
			if st, err := trainer.ReadTrainerState(filepath.Join(ck, trainer.TrainerStateFile)); err == nil {
				h.resumedStep = st.GlobalStep
			}
		}
	}
	if cfg.Logging.ReportTo == ReportTensorBoard {
		h.tbDir = filepath.Join(out, TensorBoardDir)
	}
	id, err := runs.Start(rec)
	if err != nil {
		h.warn("history", err)
	}
	h.id = id
	return h
}

// tee records each log entry (the history's live figures and the event
// file) and hands every event on.
func (h *trainHistory) tee(ev progress.Event) {
	if (ev.Kind == progress.Log || ev.Kind == progress.Done) && ev.Train != nil && ev.Train.Log != nil {
		if h.id != "" {
			if err := runs.Observe(h.id, ev.Train.Log); err != nil {
				h.warn("history", err)
			}
		}
		h.report(ev.Train.Log)
	}
	h.on.Emit(ev)
}

// report writes a log entry to the run's event file.
func (h *trainHistory) report(entry map[string]float64) {
	if h.tbDir == "" || h.warned["tensorboard"] {
		return
	}
	if h.tb == nil {
		w, err := tensorboard.Open(h.tbDir)
		if err == nil && h.resumedStep >= 0 {
			if err = w.Resumed(int64(h.resumedStep)); err != nil {
				w.Close()
			}
		}
		if err != nil {
			h.warn("tensorboard", err)
			return
		}
		h.tb = w
	}
	if err := h.tb.Log(entry); err != nil {
		h.warn("tensorboard", err)
	}
}

// end closes the event file and ends the record with the run's error
// (finished, stopped or failed).
func (h *trainHistory) end(runErr error) {
	if h.tb != nil {
		if err := h.tb.Close(); err != nil {
			h.warn("tensorboard", err)
		}
	}
	if h.id != "" {
		if err := runs.End(h.id, runErr); err != nil {
			h.warn("history", err)
		}
	}
}

// warn reports a problem of the history or the event files once per run.
func (h *trainHistory) warn(what string, err error) {
	if h.warned[what] {
		return
	}
	h.warned[what] = true
	warnSide(h.on, what, err)
}

func warnSide(on progress.Func, what string, err error) {
	switch what {
	case "history":
		on.Info("warning: run history: %v (the run goes on; it is not recorded)", err)
	default:
		on.Info("warning: TensorBoard: %v (the run goes on without event files)", err)
	}
}

// evalHistory follows one evaluation run.
type evalHistory struct {
	on  progress.Func
	cfg config.Config
	o   EvalOptions
	id  string
}

// recordEval starts the history record of an evaluation run; call end with
// its result.
func recordEval(cfg config.Config, o EvalOptions, on progress.Func) *evalHistory {
	h := &evalHistory{on: on, cfg: cfg, o: o}
	name := o.Evaluator
	if name == "" {
		name = cfg.Evaluation.Evaluator
	}
	rec := runs.Record{Kind: runs.Eval, Model: cfg.Model.Name, Dir: o.OutDir, Evaluator: name}
	if o.Adapter != nil {
		rec.Adapter = o.AdapterDir
	}
	if f := cfg.Dataset.TestFile; f != "" {
		rec.DataFile = absPath(f)
		rec.DataSHA256, _ = fileSHA256(f) // an unreadable file fails the run itself
	}
	if b, err := cfg.Marshal(); err == nil {
		rec.Config = string(b)
	}
	id, err := runs.Start(rec)
	if err != nil {
		warnSide(on, "history", err)
	}
	h.id = id
	return h
}

// end stores the metrics (the fine-tune's, and the base model's as base_*
// when it was compared), ends the record, and adds the metrics to the
// event files of the training run whose adapter was evaluated.
func (h *evalHistory) end(res EvalResult, runErr error) {
	var metrics map[string]float64
	if runErr == nil {
		m, err := runs.FlatMetrics(res.Tuned.Metrics, "")
		if err != nil {
			warnSide(h.on, "history", err)
		}
		metrics = m
		if res.Base != nil {
			if bm, err := runs.FlatMetrics(res.Base.Metrics, "base_"); err == nil {
				for k, v := range bm {
					metrics[k] = v
				}
			}
		}
	}
	if h.id != "" {
		err := runs.Update(h.id, func(r *runs.Record) { r.Metrics = metrics })
		if err == nil {
			err = runs.End(h.id, runErr)
		}
		if err != nil {
			warnSide(h.on, "history", err)
		}
	}
	if runErr == nil && h.o.Adapter != nil {
		if err := reportEval(h.cfg, h.o.AdapterDir, metrics); err != nil {
			warnSide(h.on, "tensorboard", err)
		}
	}
}

// reportEval writes an evaluation's metrics as eval/<name> scalars at the
// training run's step (its global_step in adapterDir's trainer_state.json)
// into the run's event folder, when report_to is tensorboard or the run
// already wrote event files there. An adapter folder that is no training
// run (no trainer_state.json) has no curves to add to.
func reportEval(cfg config.Config, adapterDir string, metrics map[string]float64) error {
	st, err := trainer.ReadTrainerState(filepath.Join(adapterDir, trainer.TrainerStateFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	runDir := adapterDir // a checkpoint-N folder's run is its parent
	if strings.HasPrefix(filepath.Base(filepath.Clean(adapterDir)), "checkpoint-") {
		runDir = filepath.Dir(filepath.Clean(adapterDir))
	}
	dir := filepath.Join(runDir, TensorBoardDir)
	if cfg.Logging.ReportTo != ReportTensorBoard {
		if files, _ := tensorboard.EventFiles(dir); len(files) == 0 {
			return nil
		}
	}
	entry := map[string]float64{"step": float64(st.GlobalStep)}
	for k, v := range metrics {
		if !strings.HasPrefix(k, "base_") {
			entry["eval_"+k] = v
		}
	}
	w, err := tensorboard.Open(dir)
	if err != nil {
		return err
	}
	err = w.Log(entry)
	return errors.Join(err, w.Close())
}

// fileSHA256 is the hex SHA-256 of a file's bytes.
func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}
