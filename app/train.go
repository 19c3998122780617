package app

import (
	"context"
	"errors"
	"fmt"
	"image"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/widget"
	"gonum.org/v1/plot/vg"

	"qwentune/engine"
	"qwentune/engine/progress"
	"qwentune/engine/trainer"
	"qwentune/model"
)

// preflightSteps are measured before every fresh run.
const preflightSteps = 2

// logTail is how many log lines the train screen keeps.
const logTail = 200

// plotInterval is the least time between two renderings of the curves.
const plotInterval = 300 * time.Millisecond

// trainScreen runs training with live curves, progress and the log tail.
type trainScreen struct {
	u *UI

	trainB, pauseB, stopB, resumeB *widget.Button
	hint                           *widget.Label
	progress                       *widget.ProgressBar
	stats                          *widget.Label
	lossPlot, lrPlot, gradPlot     *plotView
	log                            *widget.TextGrid
	logScroll                      *container.Scroll

	control  *trainer.Control
	cancelFn context.CancelFunc
	done     chan struct{} // closed when the running Train call has returned
	paused   bool

	steps, loss, lr, grad []float64
	lines                 []string
	plotT                 throttle
	last                  progress.Train
	lastDir               string // the output folder of the run the curves show
}

func newTrainScreen(u *UI) *trainScreen {
	s := &trainScreen{u: u, plotT: throttle{interval: plotInterval}}
	s.trainB = widget.NewButton("Train", func() { s.Start("") })
	s.trainB.Importance = widget.HighImportance
	s.pauseB = widget.NewButton("Pause", s.togglePause)
	s.stopB = widget.NewButton("Stop", s.Stop)
	s.stopB.Importance = widget.DangerImportance
	s.resumeB = widget.NewButton("Resume from checkpoint", func() { s.Start("latest") })
	s.hint = widget.NewLabel("")
	s.hint.Wrapping = fyne.TextWrapWord
	s.progress = widget.NewProgressBar()
	s.progress.TextFormatter = func() string {
		if s.last.MaxSteps == 0 {
			return "not started"
		}
		return fmt.Sprintf("step %d / %d", s.last.Step, s.last.MaxSteps)
	}
	s.stats = widget.NewLabel("")
	s.lossPlot = newPlotView(func(w, h vg.Length) image.Image {
		return LinePlot("Training loss", "step", "loss", []Series{{Name: "loss", X: s.steps, Y: s.loss, Color: colorLoss}}, w, h)
	}, 400, 200)
	s.lrPlot = newPlotView(func(w, h vg.Length) image.Image {
		return LinePlot("Learning rate", "step", "lr", []Series{{Name: "lr", X: s.steps, Y: s.lr, Color: colorLR}}, w, h)
	}, 200, 140)
	s.gradPlot = newPlotView(func(w, h vg.Length) image.Image {
		return LinePlot("Gradient norm (before clipping)", "step", "norm", []Series{{Name: "grad norm", X: s.steps, Y: s.grad, Color: colorGrad}}, w, h)
	}, 200, 140)
	s.log = widget.NewTextGrid()
	s.logScroll = container.NewScroll(s.log)
	s.logScroll.SetMinSize(fyne.NewSize(200, 120))
	u.st.observe(func(change) { s.refresh() })
	return s
}

func (s *trainScreen) content() fyne.CanvasObject {
	buttons := container.NewHBox(s.trainB, s.pauseB, s.stopB, s.resumeB)
	top := container.NewVBox(buttons, s.hint, s.progress, s.stats)
	plots := container.NewBorder(nil, container.NewGridWithColumns(2, s.lrPlot.raster, s.gradPlot.raster), nil, nil, s.lossPlot.raster)
	logCard := container.NewBorder(widget.NewLabelWithStyle("Log", fyne.TextAlignLeading, fyne.TextStyle{Bold: true}), nil, nil, nil, s.logScroll)
	split := container.NewVSplit(plots, logCard)
	split.Offset = 0.72
	return container.NewBorder(top, nil, nil, nil, split)
}

// running reports whether a Train call is in flight.
func (s *trainScreen) running() bool { return s.done != nil }

func (s *trainScreen) refresh() {
	run := s.running()
	idle := s.u.st.idle()
	ready := s.u.st.sess != nil && s.u.st.datasetReady()
	setEnabled(s.trainB, idle && ready)
	setEnabled(s.resumeB, idle && ready)
	setEnabled(s.pauseB, run)
	setEnabled(s.stopB, run)
	if s.paused {
		s.pauseB.SetText("Continue")
	} else {
		s.pauseB.SetText("Pause")
	}
	switch {
	case run:
		s.hint.SetText("Training. Pause keeps everything in memory; Stop saves a checkpoint you can resume from.")
	case s.u.st.sess == nil:
		s.hint.SetText("Load a model on the Model & config tab first.")
	case s.u.st.data == nil:
		s.hint.SetText("Open the Dataset tab and press Load and inspect: nothing trains on data you have not seen.")
	case !s.u.st.datasetSeen():
		s.hint.SetText("The training file, the dataset settings or the model changed since the data was inspected: press Load and inspect on the Dataset tab again.")
	case !s.u.st.datasetReady():
		s.hint.SetText("The training file has bad lines (listed on the Dataset tab): fix them and inspect it again.")
	default:
		with := ""
		if p := presetOf(s.u.st.cfg); p != "" {
			with = " with the " + p + " preset"
		}
		s.hint.SetText("Ready" + with + ": " + s.u.st.resolved().Dataset.TrainFile + " → " + s.u.st.resolved().Training.OutputDir)
	}
}

// Start runs training on a goroutine; resume is "" for a fresh run or
// "latest" to continue from the newest checkpoint.
func (s *trainScreen) Start(resume string) { s.start(resume, engine.TrainOptions{}) }

// start is Start with the choices a confirmation adds (ResumeChanged).
func (s *trainScreen) start(resume string, with engine.TrainOptions) {
	cfg := s.u.st.resolved()
	if err := cfg.Validate(); err != nil {
		s.u.showError(err, "Fix these fields on the Model & config tab, then press Train again.")
		return
	}
	if !s.u.st.datasetReady() {
		s.u.showError(errors.New("the training data has not been inspected"), "Open the Dataset tab and press Load and inspect first.")
		return
	}
	if resume == "latest" {
		ck, err := trainer.LatestCheckpoint(cfg.Training.OutputDir)
		if err == nil && ck == "" {
			err = fmt.Errorf("%s holds no checkpoint", cfg.Training.OutputDir)
		}
		if err != nil {
			s.u.showError(err, "Press Train to start a new run; checkpoints are written every training.save_steps and when you press Stop.")
			return
		}
	}
	if !s.u.startJob("training") {
		return
	}
	sess := s.u.st.sess
	ctx, cancel := context.WithCancel(context.Background())
	s.cancelFn = cancel
	s.control = trainer.NewControl()
	s.done = make(chan struct{})
	s.paused = false
	if resume == "" || cfg.Training.OutputDir != s.lastDir {
		// A resume of the run shown continues its curves; any other run
		// (a stopped one resumed from the Runs tab) starts them afresh.
		s.steps, s.loss, s.lr, s.grad = nil, nil, nil, nil
		s.last = progress.Train{}
	}
	s.lastDir = cfg.Training.OutputDir
	s.progress.SetValue(0)
	s.stats.SetText("Preparing the data and measuring a few steps…")
	s.refresh()

	opts := with
	opts.Resume, opts.Control, opts.PreflightSteps = resume, s.control, preflightSteps
	data := s.u.st.data
	done := s.done
	go func() {
		// Train delivers its last event before it returns, and runOnUI
		// keeps their order: every event reaches the screen before the
		// result.
		res, err := sess.Train(ctx, cfg, data, opts, func(ev progress.Event) { runOnUI(func() { s.event(ev) }) })
		runOnUI(func() {
			cancel()
			s.finished(res, err)
			close(done)
		})
	}()
}

// event shows one of the run's events.
func (s *trainScreen) event(ev progress.Event) {
	t := ev.Train
	switch ev.Kind {
	case progress.Info:
		s.appendLog(ev.Message)
	case progress.Preflight:
		s.appendLog(ev.Message)
		s.u.st.setEstimate(ev.Estimate.String())
	case progress.Step:
		s.last = *t
		s.steps = append(s.steps, float64(t.Step))
		s.loss = append(s.loss, t.Loss)
		s.lr = append(s.lr, t.LR)
		s.grad = append(s.grad, t.GradNorm)
		if t.MaxSteps > 0 {
			s.progress.SetValue(float64(t.Step) / float64(t.MaxSteps))
		}
		s.stats.SetText(fmt.Sprintf("epoch %.2f · loss %.4f · lr %.3g · grad norm %.3f · %.0f tokens/s · ETA %s · memory %s",
			t.Epoch, t.Loss, t.LR, t.GradNorm, t.TokensPerSec, duration(time.Duration(t.ETASeconds*float64(time.Second))), model.ByteSize(t.MemBytes)))
		s.plotT.do(s.redraw)
	case progress.Log, progress.Done:
		s.appendLog(formatLogEntry(t.Step, t.Log))
	case progress.Checkpoint:
		s.appendLog("checkpoint saved: " + t.Path)
	case progress.Pause:
		s.appendLog(fmt.Sprintf("paused at step %d", t.Step))
	case progress.Resume:
		s.appendLog("continuing")
	case progress.Stopped:
		s.appendLog("stopped; checkpoint " + t.Path)
	case progress.Error:
		s.appendLog("error: " + ev.Message)
	}
}

// redraw re-renders the three curves in place.
func (s *trainScreen) redraw() {
	s.lossPlot.update()
	s.lrPlot.update()
	s.gradPlot.update()
}

func (s *trainScreen) finished(res trainer.Result, err error) {
	s.done = nil
	s.control = nil
	s.cancelFn = nil
	s.paused = false
	s.redraw()
	var changed *engine.ChangedError
	var exists *trainer.RunExistsError
	switch {
	case errors.As(err, &exists):
		s.stats.SetText("Not started: " + exists.Dir + " holds another run.")
		s.u.st.endJob()
		s.offerNewFolder(exists)
		return
	case errors.As(err, &changed):
		s.stats.SetText("Not resumed: the data or config changed since the checkpoint.")
		s.appendLog("error: " + err.Error())
		s.u.st.endJob()
		dialog.ShowConfirm("Resume with changes?",
			fmt.Sprintf("%s was made with other settings: %s.\n\nResume anyway with the current ones?", changed.Checkpoint, strings.Join(changed.Details, "; ")),
			func(ok bool) {
				if ok {
					s.start("latest", engine.TrainOptions{ResumeChanged: true})
				}
			}, s.u.win)
		return
	case errors.Is(err, trainer.ErrStopped):
		msg := "Stopped at step " + fmt.Sprint(res.GlobalStep) + "."
		if res.Checkpoint != "" {
			msg += " Checkpoint: " + res.Checkpoint + " — press Resume from checkpoint to continue."
		}
		s.stats.SetText(msg)
	case err != nil:
		s.stats.SetText("Training failed.")
		s.appendLog("error: " + err.Error())
		s.u.showError(err, "Adjust the config (a smaller max_length, batch_size or lora.r needs less memory) or fix the data, then press Train again.")
	default:
		s.progress.SetValue(1)
		s.stats.SetText(fmt.Sprintf("Done: %d steps in %s, train loss %.4f. The adapter is in %s.",
			res.GlobalStep, duration(res.Runtime), res.TrainLoss, s.u.st.resolved().Training.OutputDir))
		s.u.st.adapterWritten()
	}
	s.u.st.endJob()
}

// offerNewFolder asks what to do when a fresh run's output folder holds
// another run: train into a new timestamped folder beside it, or replace
// the old run.
func (s *trainScreen) offerNewFolder(e *trainer.RunExistsError) {
	fresh := strings.TrimRight(s.u.st.cfg.Training.OutputDir, "/") + "-" + time.Now().Format("20060102-150405")
	var d dialog.Dialog
	newB := widget.NewButton("Train into "+filepath.Base(fresh), func() {
		d.Hide()
		if s.u.st.setKey("training.output_dir", fresh, nil) {
			s.Start("")
		}
	})
	overB := widget.NewButton("Overwrite the old run", func() {
		d.Hide()
		s.start("", engine.TrainOptions{Overwrite: true})
	})
	msg := widget.NewLabel(fmt.Sprintf("%s already holds a run (%s).\nTrain into a new folder, or replace the old run (its checkpoints are deleted)?", e.Dir, e.Found))
	d = dialog.NewCustom("The output folder holds a run", "Cancel", container.NewVBox(msg, container.NewHBox(newB, overB)), s.u.win)
	d.Show()
}

// togglePause pauses the run in memory or lets it continue.
func (s *trainScreen) togglePause() {
	if s.control == nil {
		return
	}
	if s.paused {
		s.control.Resume()
	} else {
		s.control.Pause()
	}
	s.paused = !s.paused
	s.refresh()
}

// Stop asks the run to save a checkpoint and return.
func (s *trainScreen) Stop() {
	if s.control != nil {
		s.control.Stop()
		s.stats.SetText("Stopping: saving a checkpoint of the last finished step…")
	}
}

// stopThen stops the run and calls then on the UI goroutine once Train has
// returned (the checkpoint is on disk).
func (s *trainScreen) stopThen(then func()) {
	done := s.done
	if done == nil {
		then()
		return
	}
	s.Stop()
	wait := dialog.NewCustomWithoutButtons("Stopping", widget.NewLabel("Saving a checkpoint before quitting…"), s.u.win)
	wait.Show()
	go func() {
		<-done
		runOnUI(func() {
			wait.Hide()
			then()
		})
	}()
}

func (s *trainScreen) appendLog(line string) {
	s.lines = append(s.lines, strings.Split(strings.TrimRight(line, "\n"), "\n")...)
	if len(s.lines) > logTail {
		s.lines = s.lines[len(s.lines)-logTail:]
	}
	s.log.SetText(strings.Join(s.lines, "\n"))
	s.logScroll.ScrollToBottom()
}

// formatLogEntry prints a log_history entry like the Trainer's console line.
func formatLogEntry(step int, e map[string]float64) string {
	keys := make([]string, 0, len(e))
	for k := range e {
		keys = append(keys, k)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "step %d:", step)
	for _, k := range sortStrings(keys) {
		if k == "step" {
			continue
		}
		fmt.Fprintf(&b, " %s=%.4g", k, e[k])
	}
	return b.String()
}

// sortStrings sorts ss in place and returns it.
func sortStrings(ss []string) []string {
	slices.Sort(ss)
	return ss
}
