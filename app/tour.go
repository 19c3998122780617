package app

import (
	"fmt"
	"os"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/widget"

	"qwentune/engine"
	"qwentune/engine/config"
	"qwentune/engine/runs"
)

// TourEnv is the environment variable that makes the app walk through
// every screen by itself (load, inspect, train, evaluate, chat, export, runs),
// printing "TOUR <screen>" on stdout when a screen is ready to be
// photographed; scripts/window-test.sh uses it.
const TourEnv = "QWENTUNE_DEMO_TOUR"

// TourQuestion is the question the tour asks in the Chat screen: one of
// the training rows of data/train.jsonl.
const TourQuestion = "How do I reset my Brightnote password?"

// lastAnswer is the newest assistant message of a chat column, "" if none.
func lastAnswer(c *chatColumn) string {
	for i := len(c.history) - 1; i >= 0; i-- {
		if c.history[i].Role == "assistant" {
			return c.history[i].Content
		}
	}
	return ""
}

// tourPause is how long the tour stays on a screen after announcing it.
const tourPause = 2500 * time.Millisecond

// Start opens the app: the config given as the first argument (else the
// one remembered from the last run), and the tour when TourEnv is "1".
func Start(a fyne.App, args []string) *UI {
	u := New(a)
	if len(args) > 0 {
		if err := u.LoadConfig(args[0]); err != nil {
			u.showError(err, "Fix the file or open another config with Open… on the Model & config tab.")
		}
	}
	u.model.startOnDemoIfNothingDownloaded()
	if u.st.cfg.Model.Name == engine.DemoName {
		// The seed's settings leave the demo's loss flat and its answers
		// unchanged; quick shows a newcomer what fine-tuning does.
		u.form.ApplyPreset(config.PresetQuick, "because the model is the built-in demo")
	}
	if os.Getenv(TourEnv) == "1" {
		go u.tour()
	}
	return u
}

// tour drives the screens like a user would, waiting for each job.
func (u *UI) tour() {
	do := func(f func()) { runOnUI(f) }
	idle := func() {
		for {
			time.Sleep(100 * time.Millisecond)
			var busy bool
			fyne.DoAndWait(func() { busy = !u.st.idle() })
			if !busy {
				return
			}
		}
	}
	until := func(limit time.Duration, cond func() bool) {
		end := time.Now().Add(limit)
		for time.Now().Before(end) {
			var ok bool
			fyne.DoAndWait(func() { ok = cond() })
			if ok {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	shot := func(name string) {
		time.Sleep(700 * time.Millisecond) // let the last frame render
		fmt.Printf("TOUR %s\n", name)
		os.Stdout.Sync()
		time.Sleep(tourPause)
	}
	time.Sleep(1500 * time.Millisecond)
	do(func() { u.SelectTab(TabModel); u.model.Load() })
	idle()
	shot("model")
	do(func() { u.SelectTab(TabDataset); u.dataset.Inspect() })
	idle()
	do(func() {
		if u.st.data != nil && len(u.st.data.Examples) > 1 {
			u.dataset.table.Select(widget.TableCellID{Row: 1})
		}
	})
	shot("dataset")
	do(func() { u.SelectTab(TabTrain); u.train.Start("") })
	until(2*time.Minute, func() bool { return len(u.train.steps) >= 3 || !u.train.running() })
	shot("train-running")
	idle()
	shot("train")
	do(func() { u.SelectTab(TabEvaluate); u.evaluate.Discover() })
	until(30*time.Second, func() bool { return u.evaluate.picker.Selected != "" })
	do(func() { u.evaluate.compare.SetChecked(true); u.evaluate.Run() })
	idle()
	shot("evaluate")
	do(func() {
		u.SelectTab(TabChat)
		u.chat.mode.SetSelected(ChatBoth)
		u.chat.Send(TourQuestion)
	})
	idle()
	// The window test checks that the first run taught the model: the loss
	// fell and the fine-tune answers a training question unlike its base.
	do(func() {
		if n := len(u.train.loss); n > 0 {
			fmt.Printf("TOUR-LOSS %.4f %.4f\n", u.train.loss[0], u.train.loss[n-1])
		}
		fmt.Printf("TOUR-ANSWER base: %s\n", oneLine(lastAnswer(u.chat.base)))
		fmt.Printf("TOUR-ANSWER tuned: %s\n", oneLine(lastAnswer(u.chat.tuned)))
	})
	shot("chat")
	do(func() { u.SelectTab(TabExport); u.export.format.SetSelected("gguf"); u.export.Export() })
	idle()
	shot("export")
	// The history: this run and any others (the window test trains two from
	// the CLI first), their loss curves overlaid.
	do(func() { u.SelectTab(TabRuns); u.runs.reload() })
	until(10*time.Second, func() bool { return len(u.runs.list) > 0 })
	do(func() {
		u.runs.Tick(func(r runs.Record) bool { return r.Kind == runs.Train && r.Status == runs.Finished })
	})
	until(10*time.Second, func() bool { return u.runs.cmp != nil })
	shot("runs")
	fmt.Println("TOUR done")
	os.Stdout.Sync()
}
