// Package app is QwenTune's desktop app: one Fyne screen per step of a
// fine-tune (model, config, dataset, train, evaluate, chat, export) and one
// for the history of runs. The screens only arrange widgets and call the
// engine's public API; every engine job runs on its own goroutine, can be
// cancelled, reports progress and hands its results back to the UI
// goroutine through fyne.Do.
package app

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/widget"

	"qwentune/engine"
	"qwentune/engine/config"
	"qwentune/internal/atomicfile"
)

// Preference keys remembered between runs.
const (
	prefConfig = "lastConfig"
	prefWidth  = "windowWidth"
	prefHeight = "windowHeight"
)

// Tab titles, in order.
const (
	TabModel    = "Model & config"
	TabDataset  = "Dataset"
	TabTrain    = "Train"
	TabEvaluate = "Evaluate"
	TabChat     = "Chat"
	TabExport   = "Export"
	TabRuns     = "Runs"
)

// UI is the app: one window with a tab per screen over the state they
// share. Every field is owned by the UI goroutine.
type UI struct {
	app fyne.App
	win fyne.Window
	st  *state

	tabs     *container.AppTabs
	model    *modelScreen
	form     *configScreen
	dataset  *datasetScreen
	train    *trainScreen
	evaluate *evalScreen
	chat     *chatScreen
	export   *exportScreen
	runs     *runsScreen
}

// New builds the app's window on a (a desktop app or a test app). It opens
// the config remembered from the last run, if any.
func New(a fyne.App) *UI {
	u := &UI{app: a, st: &state{cfg: config.Default()}}
	u.win = a.NewWindow("QwenTune")
	u.model = newModelScreen(u)
	u.form = newConfigScreen(u)
	u.dataset = newDatasetScreen(u)
	u.train = newTrainScreen(u)
	u.evaluate = newEvalScreen(u)
	u.chat = newChatScreen(u)
	u.export = newExportScreen(u)
	u.runs = newRunsScreen(u)
	u.st.observe(func(change) { u.setTitle() })
	modelTab := container.NewHSplit(u.model.content(), u.form.content())
	modelTab.Offset = 0.36
	u.tabs = container.NewAppTabs(
		container.NewTabItem(TabModel, modelTab),
		container.NewTabItem(TabDataset, u.dataset.content()),
		container.NewTabItem(TabTrain, u.train.content()),
		container.NewTabItem(TabEvaluate, u.evaluate.content()),
		container.NewTabItem(TabChat, u.chat.content()),
		container.NewTabItem(TabExport, u.export.content()),
		container.NewTabItem(TabRuns, u.runs.content()),
	)
	u.tabs.OnSelected = func(t *container.TabItem) {
		if t.Text == TabRuns {
			u.runs.reload() // runs of the CLI are recorded behind the app's back
		}
		if t.Text == TabEvaluate {
			u.evaluate.opened()
		}
	}
	u.win.SetContent(u.tabs)
	p := a.Preferences()
	u.win.Resize(fyne.NewSize(float32(p.FloatWithFallback(prefWidth, 1280)), float32(p.FloatWithFallback(prefHeight, 820))))
	u.win.SetCloseIntercept(u.onClose)
	u.win.SetOnDropped(func(_ fyne.Position, uris []fyne.URI) { u.dataset.dropped(uris) })
	if last := p.String(prefConfig); last != "" {
		if _, err := os.Stat(last); err == nil {
			if err := u.LoadConfig(last); err != nil {
				fyne.LogError("reopening "+last, err)
			}
		}
	}
	if u.st.cfgPath == "" {
		u.st.setConfig(u.st.cfg, nil) // show the defaults in every screen
	}
	return u
}

// Window returns the app's window.
func (u *UI) Window() fyne.Window { return u.win }

// ShowAndRun shows the window and runs the app until it quits.
func (u *UI) ShowAndRun() { u.win.ShowAndRun() }

// Config returns the config as the form shows it.
func (u *UI) Config() config.Config { return u.st.cfg }

// ConfigPath returns the config file in use, "" if none.
func (u *UI) ConfigPath() string { return u.st.cfgPath }

// Session returns the loaded model, nil before Load.
func (u *UI) Session() *engine.Session { return u.st.sess }

// SelectTab shows the tab with the given title (TabModel, ...).
func (u *UI) SelectTab(title string) {
	for _, t := range u.tabs.Items {
		if t.Text == title {
			u.tabs.Select(t)
			return
		}
	}
}

// LoadConfig reads path into the form and remembers it for the next start.
// Warnings are shown in the config screen.
func (u *UI) LoadConfig(path string) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	cfg, warns, err := config.Load(abs)
	if err != nil {
		return err
	}
	u.app.Preferences().SetString(prefConfig, abs)
	ws := make([]string, len(warns))
	for i, w := range warns {
		ws[i] = w.String()
	}
	u.form.setWarnings(ws)
	u.st.cfgPath = abs
	u.st.setConfig(cfg, nil)
	return nil
}

// SaveConfig writes the form's config to path atomically and makes it the
// config in use.
func (u *UI) SaveConfig(path string) error {
	if err := u.st.cfg.Validate(); err != nil {
		return err
	}
	b, err := u.st.cfg.Marshal()
	if err != nil {
		return err
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(abs, b); err != nil {
		return err
	}
	u.app.Preferences().SetString(prefConfig, abs)
	u.st.setConfigPath(abs)
	return nil
}

// startJob claims the session for a job; it shows why not and returns false
// when another job is running.
func (u *UI) startJob(name string) bool {
	if !u.st.startJob(name) {
		u.showError(fmt.Errorf("%s is running", u.st.job), "Wait for it to finish or stop it, then try again.")
		return false
	}
	return true
}

// setTitle names the config file and the running job in the title bar.
func (u *UI) setTitle() {
	title := "QwenTune"
	if u.st.cfgPath != "" {
		title += " — " + filepath.Base(u.st.cfgPath)
	}
	if u.st.job != "" {
		title += " (" + u.st.job + ")"
	}
	u.win.SetTitle(title)
}

// showError shows err in a dialog with advice on what to do next.
func (u *UI) showError(err error, advice string) {
	msg := err.Error()
	if advice != "" {
		msg += "\n\n" + advice
	}
	label := widget.NewLabel(msg)
	label.Wrapping = fyne.TextWrapWord
	d := dialog.NewCustom("Something went wrong", "OK", container.NewVScroll(label), u.win)
	d.Resize(fyne.NewSize(560, 280))
	d.Show()
}

// onClose saves the window size; during training it asks first, stops the
// run (which saves a checkpoint) and quits once the run has returned.
func (u *UI) onClose() {
	size := u.win.Canvas().Size()
	p := u.app.Preferences()
	p.SetFloat(prefWidth, float64(size.Width))
	p.SetFloat(prefHeight, float64(size.Height))
	if !u.train.running() {
		u.cancelAll()
		u.app.Quit()
		return
	}
	dialog.ShowConfirm("Training is running",
		"Stop training and quit? A checkpoint of the last finished step is saved first, so you can resume later.",
		func(ok bool) {
			if !ok {
				return
			}
			u.train.stopThen(func() {
				u.cancelAll()
				u.app.Quit()
			})
		}, u.win)
}

// cancelAll cancels any job other than training.
func (u *UI) cancelAll() {
	u.model.cancel()
	u.dataset.cancel()
	u.chat.stop()
	u.evaluate.cancel()
	u.export.cancel()
}

// throttle calls f at most once per interval; calls inside the interval
// are coalesced and the newest is delivered at its end, so the last update
// is never lost.
type throttle struct {
	interval time.Duration
	last     time.Time
	next     func() // the newest call waiting for the interval's end
}

// do runs f now or schedules it (on the UI goroutine) for the end of the
// interval, replacing an older call still waiting. It must be called on
// the UI goroutine.
func (t *throttle) do(f func()) {
	wait := t.interval - time.Since(t.last)
	if wait <= 0 {
		t.last = time.Now()
		f()
		return
	}
	if t.next == nil {
		time.AfterFunc(wait, func() {
			runOnUI(func() {
				next := t.next
				t.next = nil
				t.last = time.Now()
				next()
			})
		})
	}
	t.next = f
}

// duration formats a time left for people: "1h02m", "3m05s", "12s".
func duration(d time.Duration) string {
	if d < 0 {
		return "—"
	}
	d = d.Round(time.Second)
	h, m, s := int(d/time.Hour), int(d/time.Minute)%60, int(d/time.Second)%60
	switch {
	case h > 0:
		return fmt.Sprintf("%dh%02dm", h, m)
	case m > 0:
		return fmt.Sprintf("%dm%02ds", m, s)
	}
	return fmt.Sprintf("%ds", s)
}

// uriPath returns the local path of a URI picked in a file dialog.
func uriPath(u fyne.URI) string {
	if u == nil {
		return ""
	}
	return u.Path()
}

// isCancel reports whether err is a context cancellation.
func isCancel(err error) bool {
	return errors.Is(err, context.Canceled)
}

// runOnUI runs f on the UI goroutine; tests replace it to serialise the
// test driver's callbacks, which otherwise run on the calling goroutine.
var runOnUI = fyne.Do
