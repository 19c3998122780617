package app

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"qwentune/engine"
	"qwentune/engine/config"
	"qwentune/model"
	"qwentune/model/tokenizer"
	"qwentune/plugins/evaluators"
)

// uiMu serialises the app's UI callbacks with the test's reads: the test
// driver runs fyne.Do callbacks on the calling goroutine.
var uiMu sync.Mutex

func init() {
	runOnUI = func(f func()) {
		uiMu.Lock()
		defer uiMu.Unlock()
		f()
	}
}

// onUI runs f as if on the UI goroutine.
func onUI(f func()) {
	uiMu.Lock()
	defer uiMu.Unlock()
	f()
}

// waitFor polls cond (on the UI goroutine) until it holds or the timeout
// passes; what describes the condition in the failure.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		var ok bool
		onUI(func() { ok = cond() })
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

var (
	tinyOnce sync.Once
	tinyDir  string
	tinyErr  error
)

// tinyModel writes the two-layer test model once per test binary.
func tinyModel(t *testing.T) string {
	t.Helper()
	tinyOnce.Do(func() {
		tinyDir, tinyErr = os.MkdirTemp("", "qwentune-app-tiny-")
		if tinyErr != nil {
			return
		}
		tok := tokenizer.Builtin()
		cfg := model.Shapes["tiny"]
		cfg.BOSTokenID = tok.EOS()
		cfg.EOSTokenIDs = []int{tok.EOS()}
		if tinyErr = model.MakeModel(tinyDir, cfg, 7, "f32"); tinyErr != nil {
			return
		}
		tinyErr = tok.SaveFiles(tinyDir)
	})
	if tinyErr != nil {
		t.Fatal(tinyErr)
	}
	return tinyDir
}

// project writes a config and data for the tiny model into a temp folder.
func project(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	var train strings.Builder
	for i := range 6 {
		fmt.Fprintf(&train, "{\"prompt\": \"Question %d: is the sky blue?\", \"completion\": \" Yes, it is %d.\"}\n", i, i)
	}
	bad := train.String() + "{\"prompt\": 3}\n" // line 7: a bad line the screen must list
	testRows := "{\"input\": \"Is the sky blue?\", \"label\": \"ok\"}\n{\"input\": \"Say nothing\", \"label\": \"not ok\"}\n"
	for name, body := range map[string]string{"train.jsonl": train.String(), "bad.jsonl": bad, "test.jsonl": testRows} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cfg := config.Default()
	for _, kv := range []string{"model.name=" + tinyModel(t), "dataset.train_file=train.jsonl", "dataset.test_file=test.jsonl",
		"dataset.max_length=32", "dataset.padding=longest", "training.output_dir=run", "training.max_steps=4",
		"training.gradient_accumulation_steps=1", "training.batch_size=2", "training.logging_steps=1",
		"training.save_steps=0", "lora.r=4", "chat.max_new_tokens=8", "chat.temperature=0", "evaluation.max_new_tokens=4"} {
		if err := cfg.Set(kv); err != nil {
			t.Fatal(err)
		}
	}
	b, err := cfg.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.yml"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// newTestUI opens the app on a test app with the project's config loaded.
func newTestUI(t *testing.T) (*UI, string) {
	t.Helper()
	a := test.NewTempApp(t)
	dir := project(t)
	var u *UI
	onUI(func() {
		u = New(a)
		if err := u.LoadConfig(filepath.Join(dir, "config.yml")); err != nil {
			t.Fatal(err)
		}
		u.win.Resize(fyne.NewSize(1280, 820))
	})
	return u, dir
}

// loadModel presses Load model and waits for the summary.
func loadModel(t *testing.T, u *UI) {
	t.Helper()
	onUI(func() { test.Tap(u.model.loadB) })
	waitFor(t, "the model to load", 30*time.Second, func() bool { return u.st.sess != nil && u.st.idle() })
}

// inspect picks a training file the way the file picker's callback does
// and waits for its report.
func inspect(t *testing.T, u *UI, path string) {
	t.Helper()
	onUI(func() { u.dataset.PickFile(false, path) })
	waitFor(t, "the dataset report", 30*time.Second, func() bool {
		return u.st.data != nil && u.st.data.File == path && u.st.idle()
	})
}

func TestLoadConfigFillsTheForm(t *testing.T) {
	u, dir := newTestUI(t)
	onUI(func() {
		if u.ConfigPath() != filepath.Join(dir, "config.yml") {
			t.Errorf("config path %q", u.ConfigPath())
		}
		if got := u.model.name.Text; got != tinyModel(t) {
			t.Errorf("model entry %q, want %q", got, tinyModel(t))
		}
		if got := u.dataset.trainFile.Text; got != "train.jsonl" {
			t.Errorf("train file entry %q", got)
		}
		if !strings.Contains(u.form.status.Text, "valid") {
			t.Errorf("status %q", u.form.status.Text)
		}
		if got := u.app.Preferences().String(prefConfig); got != u.ConfigPath() {
			t.Errorf("remembered config %q", got)
		}
	})
}

func TestFormValidatesAndEdits(t *testing.T) {
	u, _ := newTestUI(t)
	tests := []struct {
		key, value string
		ok         bool
	}{
		{"lora.r", "16", true},
		{"lora.r", "0", false},
		{"training.learning_rate", "abc", false},
		{"dataset.max_length", "64", true},
		{"chat.top_p", "1.5", false},
	}
	for _, tc := range tests {
		onUI(func() {
			err := u.form.apply(tc.key, tc.value)
			if (err == nil) != tc.ok {
				t.Errorf("%s=%s: err %v, want ok=%v", tc.key, tc.value, err, tc.ok)
			}
		})
	}
	onUI(func() {
		if u.st.cfg.LoRA.R != 16 || u.st.cfg.Dataset.MaxLength != 64 {
			t.Errorf("config not updated: r %d max_length %d", u.st.cfg.LoRA.R, u.st.cfg.Dataset.MaxLength)
		}
		model := u.st.cfg.Model.Name
		u.form.ApplyPreset(config.PresetQuick, "")
		c := u.st.cfg
		if c.Model.Name != model || c.Dataset.MaxLength != 64 || c.LoRA.R != 16 || c.Training.LearningRate != 3e-3 || c.Training.MaxSteps != 300 {
			t.Errorf("quick preset gave %+v", c)
		}
		// The picker shows it; the note says what it changed; the form shows
		// the new values; the train screen names it.
		if u.form.preset.Selected != "quick" || u.form.presetNote.Hidden ||
			!strings.Contains(u.form.presetNote.Text, "training.learning_rate 0.0002 → 0.003") ||
			strings.Contains(u.form.presetNote.Text, "lora.r") { // already 16
			t.Errorf("picker %q, note %q", u.form.preset.Selected, u.form.presetNote.Text)
		}
		if got := presetOf(u.st.cfg); got != "quick" {
			t.Errorf("presetOf = %q", got)
		}
		// Editing a key the preset set unselects it.
		if err := u.form.apply("lora.r", "8"); err != nil {
			t.Fatal(err)
		}
		if u.form.preset.Selected != "" || !u.form.presetNote.Hidden {
			t.Errorf("after an edit: picker %q, note shown %v", u.form.preset.Selected, !u.form.presetNote.Hidden)
		}
		// Picking a preset in the picker applies it.
		u.form.preset.SetSelected("seed")
		if u.st.cfg.LoRA.R != 64 || u.st.cfg.Training.LearningRate != 2e-4 {
			t.Errorf("seed from the picker gave %+v", u.st.cfg)
		}
	})
}

func TestSaveConfigRoundTrip(t *testing.T) {
	u, dir := newTestUI(t)
	out := filepath.Join(dir, "saved.yml")
	onUI(func() {
		if err := u.form.apply("lora.r", "12"); err != nil {
			t.Fatal(err)
		}
		if err := u.SaveConfig(out); err != nil {
			t.Fatal(err)
		}
	})
	cfg, _, err := config.Load(out)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.LoRA.R != 12 {
		t.Errorf("saved r %d", cfg.LoRA.R)
	}
}

func TestTrainNeedsTheDatasetSeen(t *testing.T) {
	u, dir := newTestUI(t)
	loadModel(t, u)
	onUI(func() {
		if !u.train.trainB.Disabled() {
			t.Error("Train enabled before the data was inspected")
		}
	})
	inspect(t, u, filepath.Join(dir, "bad.jsonl"))
	onUI(func() {
		if !strings.Contains(u.dataset.problems.Text, "bad.jsonl:7") {
			t.Errorf("bad line not listed: %q", u.dataset.problems.Text)
		}
		if !u.train.trainB.Disabled() {
			t.Error("Train enabled on a file with bad lines")
		}
	})
	inspect(t, u, filepath.Join(dir, "train.jsonl"))
	onUI(func() {
		if u.train.trainB.Disabled() {
			t.Errorf("Train still disabled: %s", u.train.hint.Text)
		}
		rows, _ := u.dataset.tableSize()
		if rows != 6 {
			t.Errorf("table has %d rows, want 6", rows)
		}
		if u.dataset.hist.image() == nil {
			t.Error("no histogram")
		}
		// Row 0 is selected: its prompt is masked, its completion trained on.
		var trained, masked bool
		for _, seg := range u.dataset.tokens.Segments {
			ts := seg.(*widget.TextSegment)
			trained = trained || (ts.Style.ColorName == trainedStyle().ColorName && strings.Contains(ts.Text, "Yes"))
			masked = masked || (ts.Style.ColorName == maskedStyle().ColorName && strings.Contains(ts.Text, "Question"))
		}
		if !trained || !masked {
			t.Errorf("token colours wrong (trained %v, masked %v): %+v", trained, masked, u.dataset.tokens.Segments)
		}
		// Another train file must be inspected again before training.
		u.dataset.trainFile.SetText("other.jsonl")
		if !u.train.trainB.Disabled() {
			t.Error("Train enabled for a file that was not inspected")
		}
	})
}

func TestTrainShowsProgressAndPlot(t *testing.T) {
	u, dir := newTestUI(t)
	loadModel(t, u)
	inspect(t, u, filepath.Join(dir, "train.jsonl"))
	var before fyne.CanvasObject
	onUI(func() {
		before = u.train.lossPlot.raster
		test.Tap(u.train.trainB)
	})
	waitFor(t, "training to finish", 60*time.Second, func() bool { return !u.train.running() && u.st.idle() })
	onUI(func() {
		if len(u.train.steps) != 4 {
			t.Errorf("plotted %d steps, want 4", len(u.train.steps))
		}
		if u.train.progress.Value != 1 {
			t.Errorf("progress %v", u.train.progress.Value)
		}
		if !strings.HasPrefix(u.train.stats.Text, "Done: 4 steps") {
			t.Errorf("stats %q", u.train.stats.Text)
		}
		if u.train.lossPlot.raster != before || u.train.lossPlot.image() == nil {
			t.Error("the loss plot was replaced instead of updated")
		}
		if !strings.Contains(strings.Join(u.train.lines, "\n"), "trainable params") {
			t.Errorf("log tail lacks the trainable-parameter line: %q", u.train.lines)
		}
	})
	if _, err := os.Stat(filepath.Join(dir, "run", "adapter_config.json")); err != nil {
		t.Errorf("no adapter written: %v", err)
	}
}

func TestChatStreamsAnAnswer(t *testing.T) {
	u, _ := newTestUI(t)
	loadModel(t, u)
	onUI(func() {
		u.chat.mode.SetSelected(ChatBase)
		u.chat.input.SetText("Hello there")
		test.Tap(u.chat.sendB)
	})
	waitFor(t, "the answer", 30*time.Second, func() bool { return u.st.idle() && len(u.chat.base.history) == 2 })
	onUI(func() {
		h := u.chat.base.history
		if h[0].Role != "user" || h[0].Content != "Hello there" || h[1].Role != "assistant" {
			t.Errorf("history %+v", h)
		}
		if got := lastMessage(u.chat.base); got == "…" {
			t.Error("answer label never updated")
		}
		test.Tap(u.chat.clearB)
		if len(u.chat.base.history) != 0 {
			t.Error("Clear kept the history")
		}
	})
}

func TestChatFineTunedNeedsAnAdapter(t *testing.T) {
	u, _ := newTestUI(t)
	loadModel(t, u)
	onUI(func() {
		u.chat.mode.SetSelected(ChatTuned)
		u.chat.Send("hi")
		if !u.st.idle() {
			t.Errorf("chat started without an adapter (job %q)", u.st.job)
		}
	})
}

// lastMessage is the text of a transcript's last bubble.
func lastMessage(c *chatColumn) string {
	if len(c.box.Objects) == 0 {
		return ""
	}
	bubble := c.box.Objects[len(c.box.Objects)-1].(*fyne.Container)
	return bubble.Objects[1].(*widget.Label).Text
}

var (
	pluginOnce sync.Once
	pluginDir  string
	pluginErr  error
)

// heuristicPlugin builds the heuristic evaluator once per test binary.
func heuristicPlugin(t *testing.T) string {
	t.Helper()
	pluginOnce.Do(func() {
		pluginDir, pluginErr = os.MkdirTemp("", "qwentune-app-plugins-")
		if pluginErr != nil {
			return
		}
		out, err := exec.Command("go", "build", "-o", filepath.Join(pluginDir, "qwentune-eval-heuristic"),
			"qwentune/plugins/evaluators/heuristic").CombinedOutput()
		if err != nil {
			pluginErr = fmt.Errorf("building the heuristic plugin: %v\n%s", err, out)
		}
	})
	if pluginErr != nil {
		t.Fatal(pluginErr)
	}
	return pluginDir
}

// trainTiny runs the four training steps of the project's config.
func trainTiny(t *testing.T, u *UI, dir string) {
	t.Helper()
	loadModel(t, u)
	inspect(t, u, filepath.Join(dir, "train.jsonl"))
	onUI(func() { test.Tap(u.train.trainB) })
	waitFor(t, "training to finish", 60*time.Second, func() bool { return !u.train.running() && u.st.idle() })
}

// Opening the Evaluate screen lists the plugins without pressing anything.
func TestEvaluatorsListedWhenTheScreenOpens(t *testing.T) {
	plugins := heuristicPlugin(t)
	u, _ := newTestUI(t)
	onUI(func() {
		u.evaluate.pluginDirs = []string{plugins}
		u.evaluate.devPlugins = true
		if len(u.evaluate.picker.Options) != 0 {
			t.Fatalf("plugins listed before the screen opened: %v", u.evaluate.picker.Options)
		}
		u.SelectTab(TabEvaluate)
	})
	waitFor(t, "the plugin list", 30*time.Second, func() bool { return u.evaluate.picker.Selected == "heuristic" })
	onUI(func() {
		if !strings.Contains(u.evaluate.about.Text, "heuristic") {
			t.Errorf("about %q", u.evaluate.about.Text)
		}
	})
}

func TestEvaluateShowsMetricsAndMatrix(t *testing.T) {
	plugins := heuristicPlugin(t)
	u, dir := newTestUI(t)
	trainTiny(t, u, dir)
	onUI(func() {
		u.evaluate.pluginDirs = []string{plugins}
		u.evaluate.devPlugins = true
		u.evaluate.compare.SetChecked(true)
		test.Tap(u.evaluate.rescanB)
	})
	waitFor(t, "the plugin list", 30*time.Second, func() bool { return u.evaluate.picker.Selected == "heuristic" })
	onUI(func() {
		if !strings.Contains(u.evaluate.about.Text, "heuristic") {
			t.Errorf("about %q", u.evaluate.about.Text)
		}
		test.Tap(u.evaluate.runB)
	})
	waitFor(t, "the evaluation", 60*time.Second, func() bool { return u.evaluate.res != nil && u.st.idle() })
	onUI(func() {
		res := u.evaluate.res
		if res.Base == nil || res.Comparison == nil {
			t.Fatal("no base comparison")
		}
		if rows, _ := u.evaluate.sampleSize(); rows != 2 {
			t.Errorf("sample table has %d rows, want 2", rows)
		}
		if rows, _ := u.evaluate.metricSize(); rows != len(res.Tuned.Metrics.Classes)+2 {
			t.Errorf("metric table has %d rows", rows)
		}
		if u.evaluate.matrix.image() == nil || u.evaluate.baseMat.raster.Hidden {
			t.Error("confusion matrices not shown")
		}
		if !strings.Contains(u.evaluate.summary.Text, "Accuracy") || !strings.Contains(u.evaluate.summary.Text, "vs base") {
			t.Errorf("summary %q", u.evaluate.summary.Text)
		}
		b, err := u.evaluate.csvBytes()
		if err != nil {
			t.Fatal(err)
		}
		recs, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
		if err != nil || len(recs) != 3 {
			t.Errorf("csv has %d records (%v): %q", len(recs), err, b)
		}
	})
}

func TestExportWritesPEFT(t *testing.T) {
	u, dir := newTestUI(t)
	trainTiny(t, u, dir)
	out := filepath.Join(dir, "exported")
	onUI(func() {
		u.export.format.SetSelected("peft")
		u.export.out.SetText(out)
		test.Tap(u.export.exportB)
	})
	waitFor(t, "the export", 30*time.Second, func() bool { return u.st.idle() && u.export.cancelFn == nil })
	onUI(func() {
		if !strings.HasPrefix(u.export.status.Text, "Exported") {
			t.Errorf("status %q", u.export.status.Text)
		}
	})
	for _, f := range []string{"adapter_config.json", "adapter_model.safetensors"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Error(err)
		}
	}
}

func TestCloseDuringTrainingStopsWithACheckpointAndResumes(t *testing.T) {
	u, dir := newTestUI(t)
	onUI(func() {
		// Long enough (a step of the tiny model takes about 10 ms) that the
		// stop, asked once the screen has shown two steps, lands before the
		// end even when the screen's events lag on a loaded machine: they
		// reach it asynchronously by design.
		if err := u.form.apply("training.max_steps", "200"); err != nil {
			t.Fatal(err)
		}
	})
	loadModel(t, u)
	inspect(t, u, filepath.Join(dir, "train.jsonl"))
	onUI(func() { test.Tap(u.train.trainB) })
	waitFor(t, "a few steps", 60*time.Second, func() bool { return len(u.train.steps) >= 2 })
	onUI(func() {
		u.onClose()
		if u.win.Canvas().Overlays().Top() == nil {
			t.Error("closing during training did not ask first")
		}
	})
	var quit sync.WaitGroup
	quit.Add(1)
	onUI(func() { u.train.stopThen(quit.Done) })
	quit.Wait()
	onUI(func() {
		if u.train.running() {
			t.Error("still running after the stop")
		}
		if !strings.HasPrefix(u.train.stats.Text, "Stopped at step") {
			t.Errorf("stats %q", u.train.stats.Text)
		}
	})
	cks, err := filepath.Glob(filepath.Join(dir, "run", "checkpoint-*"))
	if err != nil || len(cks) == 0 {
		t.Fatalf("no checkpoint after the stop: %v %v", cks, err)
	}
	onUI(func() { test.Tap(u.train.resumeB) })
	waitFor(t, "the resumed run", 120*time.Second, func() bool { return !u.train.running() && u.st.idle() })
	onUI(func() {
		if !strings.HasPrefix(u.train.stats.Text, "Done: 200 steps") {
			t.Errorf("resumed run ended with %q", u.train.stats.Text)
		}
	})
}

// findButton returns the first button labelled text under o.
func findButton(o fyne.CanvasObject, text string) *widget.Button {
	for _, obj := range test.LaidOutObjects(o) {
		if b, ok := obj.(*widget.Button); ok && b.Text == text {
			return b
		}
	}
	return nil
}

func TestOfflineOffersTheDemoModel(t *testing.T) {
	t.Setenv("HF_HUB_OFFLINE", "1")
	t.Setenv("HF_HOME", t.TempDir())
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	u, _ := newTestUI(t)
	onUI(func() {
		u.model.name.SetText("Qwen/Qwen2-0.5B")
		test.Tap(u.model.loadB)
	})
	waitFor(t, "the load to fail", 30*time.Second, func() bool { return u.st.idle() && u.model.cancelFn == nil })
	var yes *widget.Button
	onUI(func() {
		if u.st.sess != nil {
			t.Fatal("a session without the model")
		}
		top := u.win.Canvas().Overlays().Top()
		if top == nil {
			t.Fatal("no dialog offering the demo")
		}
		if yes = findButton(top, "Yes"); yes == nil {
			t.Fatal("the dialog has no Yes button")
		}
		test.Tap(yes)
	})
	waitFor(t, "the demo model", 60*time.Second, func() bool { return u.st.sess != nil && u.st.idle() })
	onUI(func() {
		if u.st.cfg.Model.Name != "demo" || u.st.sess.Summary().Params == 0 {
			t.Errorf("model %q, summary %+v", u.st.cfg.Model.Name, u.st.sess.Summary())
		}
	})
}

func TestThrottleDeliversTheNewestCall(t *testing.T) {
	var got []int
	th := throttle{interval: 50 * time.Millisecond}
	onUI(func() {
		for i := range 5 {
			th.do(func() { got = append(got, i) })
		}
	})
	waitFor(t, "the coalesced call", time.Second, func() bool { return len(got) == 2 })
	onUI(func() {
		if got[0] != 0 || got[1] != 4 {
			t.Errorf("calls delivered %v, want [0 4]", got)
		}
	})
}

// On a first start with the default config and no model downloaded, the app
// loads the built-in demo model by itself and says why.
func TestFirstStartUsesTheDemoWhenNothingIsDownloaded(t *testing.T) {
	t.Setenv("HF_HUB_OFFLINE", "1")
	t.Setenv("HF_HOME", t.TempDir())
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	a := test.NewTempApp(t)
	var u *UI
	onUI(func() { u = Start(a, nil) })
	waitFor(t, "the demo model", 60*time.Second, func() bool { return u.st.sess != nil && u.st.idle() })
	onUI(func() {
		if u.st.cfg.Model.Name != "demo" || !strings.Contains(u.model.status.Text, "Qwen/Qwen2-1.5B is not downloaded yet") {
			t.Errorf("model %q, status %q", u.st.cfg.Model.Name, u.model.status.Text)
		}
		// With no config file the form shows the defaults. (The blank-form bug
		// only showed in the real window; scripts/window-test.sh guards it.)
		if !strings.Contains(u.form.status.Text, "valid") {
			t.Errorf("config form status %q: the defaults are not shown", u.form.status.Text)
		}
		// On the demo the first run uses quick, and the form says so.
		if u.form.preset.Selected != "quick" || !strings.Contains(u.form.presetNote.Text, "Preset quick is selected because the model is the built-in demo") ||
			u.st.cfg.Training.LearningRate != 3e-3 {
			t.Errorf("preset %q, note %q, lr %g", u.form.preset.Selected, u.form.presetNote.Text, u.st.cfg.Training.LearningRate)
		}
	})
}

// TestEvaluateShowsJudgeSettings: with the judge selected, the Evaluate
// screen shows the evaluation.judge_* settings and follows their changes.
func TestEvaluateShowsJudgeSettings(t *testing.T) {
	u, _ := newTestUI(t)
	onUI(func() {
		u.evaluate.infos["judge"] = evaluators.Info{Name: "judge", Version: "1.0.0", Description: "asks a model",
			Labels: []string{"ok", "not ok", evaluators.Unjudged}}
		u.evaluate.picker.Options = []string{"judge"}
		u.evaluate.picker.SetSelected("judge")
		if !strings.Contains(u.evaluate.about.Text, "Judge model: base") || !strings.Contains(u.evaluate.about.Text, "built-in rubric") {
			t.Errorf("about %q", u.evaluate.about.Text)
		}
		if err := u.form.apply("evaluation.judge_labels", "yes, no"); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(u.evaluate.about.Text, "labels: yes, no") {
			t.Errorf("after changing the labels, about %q", u.evaluate.about.Text)
		}
	})
}

// A GGUF file loads as the base model from the model screen, says so in
// the summary, and chats.
func TestGGUFBaseModelLoads(t *testing.T) {
	u, _ := newTestUI(t)
	loadModel(t, u)
	out := t.TempDir()
	if err := u.st.sess.Export(context.Background(), engine.ExportOptions{Format: engine.ExportGGUF, DType: "q8_0", OutDir: out}, nil); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(out, engine.GGUFModelFile)
	onUI(func() {
		if b := findButton(u.model.content(), "GGUF…"); b == nil || b.Disabled() {
			t.Error("no enabled GGUF… button on the model screen")
		}
		u.model.name.SetText(path)
		test.Tap(u.model.loadB)
	})
	waitFor(t, "the GGUF model", 30*time.Second, func() bool { return u.st.sess != nil && u.st.sess.Dir == path && u.st.idle() })
	onUI(func() {
		found := false
		for _, it := range u.model.summary.Items {
			found = found || it.Text == "GGUF file"
		}
		if !found {
			t.Error(`the summary has no "GGUF file" row`)
		}
		u.chat.mode.SetSelected(ChatBase)
		u.chat.input.SetText("Hello there")
		test.Tap(u.chat.sendB)
	})
	waitFor(t, "the answer", 30*time.Second, func() bool { return u.st.idle() && len(u.chat.base.history) == 2 })
}
