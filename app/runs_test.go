package app

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"qwentune/engine/runs"
)

func TestMain(m *testing.M) {
	// Training and evaluation record their runs: never in the user's
	// history.
	dir, err := os.MkdirTemp("", "qwentune-app-runs-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Setenv("QWENTUNE_RUNS_DIR", filepath.Join(dir, "history"))
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// The Runs screen lists the app's runs, overlays the curves of the ticked
// ones with their differing keys and figures, sorts and filters, resumes a
// stopped run through the Train screen, opens an adapter in Chat, shows a
// folder deleted by hand as missing, and deletes a run after asking.
func TestRunsScreen(t *testing.T) {
	t.Setenv("QWENTUNE_RUNS_DIR", filepath.Join(t.TempDir(), "history"))
	u, dir := newTestUI(t)
	trainTiny(t, u, dir) // run A: 4 steps into run/
	onUI(func() {
		for _, kv := range [][2]string{{"training.learning_rate", "0.001"}, {"training.output_dir", "run2"}, {"training.max_steps", "200"}} {
			if err := u.form.apply(kv[0], kv[1]); err != nil {
				t.Fatal(err)
			}
		}
		test.Tap(u.train.trainB)
	})
	waitFor(t, "a few steps of run B", 60*time.Second, func() bool { return len(u.train.steps) >= 2 })
	onUI(func() { u.train.Stop() })
	waitFor(t, "run B to stop", 60*time.Second, func() bool { return !u.train.running() && u.st.idle() })

	s := u.runs
	onUI(func() { u.SelectTab(TabRuns) })
	waitFor(t, "the two runs listed", 10*time.Second, func() bool { return len(s.list) == 2 })
	var a, b runs.Record
	onUI(func() {
		b, a = s.list[0], s.list[1] // newest first
		if a.Status != runs.Finished || b.Status != runs.Stopped || a.Dir != filepath.Join(dir, "run") || b.Dir != filepath.Join(dir, "run2") {
			t.Fatalf("listed %s in %s and %s in %s", a.Status, a.Dir, b.Status, b.Dir)
		}
		s.Tick(func(runs.Record) bool { return true })
	})
	waitFor(t, "the comparison", 10*time.Second, func() bool { return s.cmp != nil && len(s.cmp.Runs) == 2 })
	onUI(func() {
		var keys []string
		for _, d := range s.cmp.Config {
			keys = append(keys, d.Key)
		}
		for _, k := range []string{"training.learning_rate", "training.max_steps", "training.output_dir"} {
			if !slices.Contains(keys, k) {
				t.Errorf("diff keys %v lack %s", keys, k)
			}
		}
		if rows, cols := s.diffSize(); rows != len(keys) || cols != 3 {
			t.Errorf("diff table %d×%d", rows, cols)
		}
		if rows, _ := s.metricsSize(); rows == 0 || s.cmp.Metrics[0].Name != "final_loss" {
			t.Errorf("metrics table: %d rows %+v", rows, s.cmp.Metrics)
		}
		for i, c := range s.cmp.Curves {
			if len(c.Points) == 0 {
				t.Errorf("curve %d is empty: %s", i, c.Err)
			}
		}
		if s.curves.image() == nil {
			t.Error("no curves drawn")
		}
		if h := s.headers("Config key"); len(h) != 3 || h[1] != shortID(s.cmp.Runs[0].ID) {
			t.Errorf("headers %q", h)
		}
		if l := s.runLabel(0); !strings.Contains(l, "learning_rate=") || !strings.HasPrefix(l, shortID(s.cmp.Runs[0].ID)) {
			t.Errorf("legend label %q names no differing value", l)
		}
		// Sort by final loss, twice for the reverse order.
		s.SortBy(5)
		first := s.list[0]
		s.SortBy(5)
		if s.list[1].ID != first.ID || compareLoss(s.list[0].FinalLoss, s.list[1].FinalLoss) < 0 {
			t.Errorf("sorting by final loss does not reverse")
		}
		s.modelF.SetText("no such model")
	})
	waitFor(t, "the model filter", 10*time.Second, func() bool { return len(s.list) == 0 })
	onUI(func() { s.modelF.SetText("") })
	waitFor(t, "the filter cleared", 10*time.Second, func() bool { return len(s.list) == 2 })

	// Resume B from the Runs screen: it runs to its 200 steps in run2.
	onUI(func() {
		s.current = b.ID
		s.refresh()
		if s.resumeB.Disabled() {
			t.Fatal("Resume disabled for a stopped run")
		}
		test.Tap(s.resumeB)
	})
	// The list is read again on a goroutine when the run ends: wait for
	// that reading too, not only for a list of three (which the reading
	// at the run's start already gives).
	resumed := func() (r runs.Record) {
		for _, x := range s.list {
			if x.Dir == b.Dir && x.ID != b.ID {
				r = x
			}
		}
		return r
	}
	waitFor(t, "the resumed run", 60*time.Second, func() bool {
		return !u.train.running() && u.st.idle() && len(s.list) == 3 && resumed().Status != runs.Running
	})
	onUI(func() {
		if !strings.HasPrefix(u.train.stats.Text, "Done: 200 steps") {
			t.Errorf("resumed run ended with %q", u.train.stats.Text)
		}
		// B was the run on the Train screen: its curve goes on.
		if st := u.train.steps; len(st) == 0 || st[0] != 1 || st[len(st)-1] != 200 || !slices.IsSorted(st) {
			t.Errorf("the Train screen's curve is not run B's from step 1 to 200: %v", st)
		}
		r := resumed()
		if r.Status != runs.Finished || r.Resumed == "" || r.Steps != 200 {
			t.Errorf("resumed run recorded as %s in %s from %q, %d steps", r.Status, r.Dir, r.Resumed, r.Steps)
		}
		// Open A's adapter in Chat.
		s.current = a.ID
		s.refresh()
		test.Tap(s.chatB)
		if u.st.cfg.Model.Adapter != a.Adapter || u.tabs.Selected().Text != TabChat {
			t.Errorf("Open in Chat: adapter %q, tab %q", u.st.cfg.Model.Adapter, u.tabs.Selected().Text)
		}
	})

	// A folder deleted by hand shows as missing.
	if err := os.RemoveAll(b.Dir); err != nil {
		t.Fatal(err)
	}
	onUI(func() { test.Tap(s.refreshB) })
	waitFor(t, "the missing folder", 10*time.Second, func() bool {
		r, ok := s.record(b.ID)
		return ok && r.Missing
	})
	onUI(func() {
		r, _ := s.record(b.ID)
		if statusText(r) != "stopped · folder missing" {
			t.Errorf("status %q", statusText(r))
		}
		// Delete A with its folder, after the confirmation.
		s.current = a.ID
		s.refresh()
		test.Tap(s.deleteB)
		top := u.win.Canvas().Overlays().Top()
		if top == nil {
			t.Fatal("Delete did not ask first")
		}
		for _, o := range test.LaidOutObjects(top) {
			if c, ok := o.(*widget.Check); ok {
				c.SetChecked(true)
			}
		}
		del := findButton(top, "Delete")
		if del == nil {
			t.Fatal("no Delete button in the dialog")
		}
		test.Tap(del)
	})
	waitFor(t, "the deletion", 10*time.Second, func() bool { _, ok := s.record(a.ID); return !ok && len(s.list) == 2 })
	if _, err := os.Stat(a.Dir); !os.IsNotExist(err) {
		t.Errorf("run A's folder is still there: %v", err)
	}
}

// logging.report_to has its field in the config form, a choice of none and
// tensorboard, and the form sets it.
func TestConfigFormHasReportTo(t *testing.T) {
	u, _ := newTestUI(t)
	onUI(func() {
		set, ok := u.form.setters["logging.report_to"]
		if !ok {
			t.Fatal("the config form has no logging.report_to field")
		}
		set("tensorboard") // what the form shows
		if err := u.form.apply("logging.report_to", "tensorboard"); err != nil || u.st.cfg.Logging.ReportTo != "tensorboard" {
			t.Errorf("report_to tensorboard: %v, config %q", err, u.st.cfg.Logging.ReportTo)
		}
		if err := u.form.apply("logging.report_to", "wandb"); err == nil {
			t.Error("report_to wandb accepted")
		}
	})
}

// A history that cannot be written costs a warning, never the job: training
// logs it, evaluation shows it in its status.
func TestHistoryWarningsInTheScreens(t *testing.T) {
	notADir := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(notADir, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("QWENTUNE_RUNS_DIR", filepath.Join(notADir, "history"))
	plugins := heuristicPlugin(t)
	u, dir := newTestUI(t)
	trainTiny(t, u, dir)
	onUI(func() {
		if !strings.HasPrefix(u.train.stats.Text, "Done: 4 steps") || !strings.Contains(strings.Join(u.train.lines, "\n"), "warning: run history:") {
			t.Errorf("training: %q, log %q", u.train.stats.Text, u.train.lines)
		}
		u.evaluate.pluginDirs = []string{plugins}
		u.evaluate.devPlugins = true
		test.Tap(u.evaluate.rescanB)
	})
	waitFor(t, "the plugin list", 30*time.Second, func() bool { return u.evaluate.picker.Selected == "heuristic" })
	onUI(func() { test.Tap(u.evaluate.runB) })
	waitFor(t, "the evaluation", 60*time.Second, func() bool { return u.evaluate.res != nil && u.st.idle() })
	onUI(func() {
		if !strings.HasPrefix(u.evaluate.status.Text, "Evaluated") || !strings.Contains(u.evaluate.status.Text, "warning: run history:") {
			t.Errorf("evaluation status %q", u.evaluate.status.Text)
		}
	})
}
