package app

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"strconv"
	"strings"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/widget"
	"gonum.org/v1/plot/vg"

	"qwentune/engine"
	"qwentune/engine/config"
	"qwentune/engine/eval"
	"qwentune/engine/progress"
	"qwentune/internal/atomicfile"
	"qwentune/plugins/evaluators"
)

// evalScreen runs an evaluator plugin on the test file and shows the
// metrics, the confusion matrix, every sample, and base vs fine-tuned.
type evalScreen struct {
	u *UI

	picker   *widget.Select
	about    *widget.Label
	compare  *widget.Check
	runB     *widget.Button
	cancelB  *widget.Button
	rescanB  *widget.Button
	csvB     *widget.Button
	jsonB    *widget.Button
	progress *widget.ProgressBar
	status   *widget.Label
	summary  *widget.Label
	metrics  *widget.Table
	matrix   *plotView
	baseMat  *plotView
	samples  *widget.Table
	detail   *widget.Label

	// pluginDirs and devPlugins are where plugins are looked for and
	// whether unlisted binaries may run (tests build their own).
	pluginDirs []string
	devPlugins bool

	// searched is set once Discover has run: the screen lists the plugins
	// the first time it opens, and Find plugins searches again.
	searched bool
	infos    map[string]evaluators.Info
	res      *engine.EvalResult
	rows     []sampleRow
	cancelFn context.CancelFunc
}

// sampleRow is one line of the per-sample table.
type sampleRow struct {
	r    eval.Result
	base *eval.Result
	flip string // "fixed", "broken" or ""
}

var metricColumns = []string{"Class", "Precision", "Recall", "F1", "Support", "Predicted"}
var sampleColumns = []string{"Line", "Input", "Generated output", "Label", "Verdict", "OK", "Base verdict", "Change", "Reason"}

func newEvalScreen(u *UI) *evalScreen {
	s := &evalScreen{u: u, infos: map[string]evaluators.Info{}}
	s.picker = widget.NewSelect(nil, func(name string) {
		s.describe(name)
		if name != "" {
			s.u.st.setKey("evaluation.evaluator", name, s)
		}
	})
	s.picker.PlaceHolder = "evaluator plugin"
	s.about = widget.NewLabel("The evaluator plugins are listed when this screen opens.")
	s.about.Wrapping = fyne.TextWrapWord
	s.compare = widget.NewCheck("Compare with the base model", func(b bool) {
		s.u.st.setKey("evaluation.compare_base", strconv.FormatBool(b), s)
	})
	s.runB = widget.NewButton("Run evaluation", s.Run)
	s.runB.Importance = widget.HighImportance
	s.cancelB = widget.NewButton("Cancel", s.cancel)
	s.rescanB = widget.NewButton("Find plugins", s.Discover)
	s.csvB = widget.NewButton("Export CSV…", func() { s.exportFile("predictions.csv", s.csvBytes) })
	s.jsonB = widget.NewButton("Export JSON…", func() { s.exportFile("evaluation.json", s.jsonBytes) })
	s.progress = widget.NewProgressBar()
	s.status = widget.NewLabel("")
	s.status.Wrapping = fyne.TextWrapWord
	s.summary = widget.NewLabel("")
	s.summary.Wrapping = fyne.TextWrapWord
	s.metrics = newTable(metricColumns, []float32{110, 90, 90, 90, 80, 90}, s.metricSize, s.metricCell)
	s.samples = newTable(sampleColumns, []float32{50, 260, 300, 70, 80, 40, 100, 80, 320}, s.sampleSize, s.sampleCell)
	s.detail = widget.NewLabel("Select a sample to read it in full.")
	s.detail.Wrapping = fyne.TextWrapWord
	s.samples.OnSelected = func(id widget.TableCellID) { s.showSample(id.Row) }
	s.matrix = newPlotView(func(w, h vg.Length) image.Image {
		if s.res == nil {
			return Confusion("Confusion matrix", nil, nil, w, h)
		}
		title := "Confusion matrix"
		if s.res.Base != nil {
			title += " (fine-tuned)"
		}
		m := s.res.Tuned.Metrics
		return Confusion(title, m.Labels, m.Confusion, w, h)
	}, 300, 250)
	s.baseMat = newPlotView(func(w, h vg.Length) image.Image {
		if s.res == nil || s.res.Base == nil {
			return Confusion("Base model", nil, nil, w, h)
		}
		m := s.res.Base.Metrics
		return Confusion("Base model", m.Labels, m.Confusion, w, h)
	}, 300, 250)
	s.baseMat.raster.Hide()
	u.st.observe(s.changed)
	return s
}

// changed follows the state: the evaluation settings and the buttons.
func (s *evalScreen) changed(c change) {
	if c.config && c.from != s {
		s.load()
	}
	s.refresh()
}

// newTable makes a read-only table of labels with a bold header row.
func newTable(cols []string, widths []float32, size func() (int, int), cell func(widget.TableCellID, *widget.Label)) *widget.Table {
	t := widget.NewTable(size, func() fyne.CanvasObject {
		l := widget.NewLabel("")
		l.Truncation = fyne.TextTruncateEllipsis
		return l
	}, func(id widget.TableCellID, o fyne.CanvasObject) { cell(id, o.(*widget.Label)) })
	t.ShowHeaderRow = true
	t.CreateHeader = func() fyne.CanvasObject {
		return widget.NewLabelWithStyle("", fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	}
	t.UpdateHeader = func(id widget.TableCellID, o fyne.CanvasObject) {
		if id.Col >= 0 && id.Col < len(cols) {
			o.(*widget.Label).SetText(cols[id.Col])
		}
	}
	for i, w := range widths {
		t.SetColumnWidth(i, w)
	}
	return t
}

func (s *evalScreen) content() fyne.CanvasObject {
	pick := container.NewBorder(nil, nil, widget.NewLabel("Evaluator:"), s.rescanB, s.picker)
	buttons := container.NewHBox(s.compare, s.runB, s.cancelB, widget.NewSeparator(), s.csvB, s.jsonB)
	top := container.NewVBox(pick, s.about, buttons, s.progress, s.status)
	metrics := container.NewBorder(s.summary, nil, nil, nil, s.metrics)
	mats := container.NewHBox(s.matrix.raster, s.baseMat.raster)
	upper := container.NewBorder(nil, nil, nil, mats, metrics)
	lower := container.NewHSplit(s.samples, container.NewVScroll(s.detail))
	lower.Offset = 0.7
	split := container.NewVSplit(upper, lower)
	split.Offset = 0.45
	return container.NewBorder(top, nil, nil, nil, split)
}

func (s *evalScreen) load() {
	if s.compare.Checked != s.u.st.cfg.Evaluation.CompareBase {
		s.compare.SetChecked(s.u.st.cfg.Evaluation.CompareBase)
	}
	if s.picker.Selected != s.u.st.cfg.Evaluation.Evaluator && len(s.picker.Options) > 0 {
		s.picker.SetSelected(s.u.st.cfg.Evaluation.Evaluator)
	}
	s.describe(s.picker.Selected) // the judge's settings live in the config
}

func (s *evalScreen) refresh() {
	busy := s.cancelFn != nil
	setEnabled(s.runB, s.u.st.sess != nil && s.u.st.idle())
	setEnabled(s.rescanB, !busy)
	s.cancelB.Hidden = !busy
	s.cancelB.Refresh()
	setEnabled(s.csvB, s.res != nil)
	setEnabled(s.jsonB, s.res != nil)
	if !busy && s.res == nil {
		if s.u.st.sess == nil {
			s.status.SetText("Load a model first; the test file is dataset.test_file (" + s.u.st.cfg.Dataset.TestFile + ").")
		} else {
			s.status.SetText("Ready to evaluate " + s.u.st.resolved().Dataset.TestFile + ".")
		}
	}
}

// opened lists the plugins the first time the screen is shown.
func (s *evalScreen) opened() {
	if !s.searched {
		s.Discover()
	}
}

// Discover lists the evaluator plugins with their descriptions, off the UI
// goroutine; each plugin is started briefly to ask for its Info.
func (s *evalScreen) Discover() {
	s.searched = true
	dirs, dev := engine.PluginDirs(s.u.st.resolved(), s.pluginDirs...), s.devPlugins
	s.about.SetText("Looking for evaluator plugins…")
	go func() {
		described, err := engine.DescribeEvaluators(context.Background(), dev, dirs...)
		infos := map[string]evaluators.Info{}
		var problems []string
		var untrusted []string
		for _, e := range described {
			if errors.Is(e.Err, engine.ErrUntrusted) {
				untrusted = append(untrusted, e.Plugin.Path)
				problems = append(problems, e.Plugin.Name+": untrusted ("+e.Plugin.Path+")")
				continue
			}
			if e.Err != nil {
				problems = append(problems, e.Plugin.Name+": "+e.Err.Error())
				continue
			}
			infos[e.Plugin.Name] = e.Info
		}
		runOnUI(func() {
			s.infos = infos
			names := make([]string, 0, len(infos))
			for n := range infos {
				names = append(names, n)
			}
			s.picker.Options = sortStrings(names)
			s.picker.Refresh()
			switch {
			case len(names) == 0:
				msg := "No evaluator plugins found. Build them with scripts/build-plugins.sh (they go to bin/plugins, next to bin/qwentune-desktop; or set evaluation.plugin_dir)."
				if err != nil {
					msg += "\n" + err.Error()
				}
				s.about.SetText(msg + "\n" + strings.Join(problems, "\n"))
			case s.u.st.cfg.Evaluation.Evaluator != "" && infos[s.u.st.cfg.Evaluation.Evaluator].Name != "":
				s.picker.SetSelected(s.u.st.cfg.Evaluation.Evaluator)
			default:
				s.picker.SetSelected(names[0])
			}
			if len(problems) > 0 && len(names) > 0 {
				s.about.SetText(s.about.Text + "\nSkipped: " + strings.Join(problems, "; "))
			}
			if len(untrusted) > 0 {
				s.offerTrust(untrusted)
			}
		})
	}()
}

// offerTrust asks whether to run plugins that are neither shipped with
// QwenTune nor approved yet; approving records their SHA-256 in the user's
// config folder (as qwentune evaluators --trust does) and lists them again.
func (s *evalScreen) offerTrust(paths []string) {
	dialog.ShowConfirm("Run these evaluator plugins?",
		"These plugins were not shipped with QwenTune and have not been approved:\n\n"+strings.Join(paths, "\n")+
			"\n\nA plugin is a program that runs with your rights. Approve them only if you trust where they came from.",
		func(ok bool) {
			if !ok {
				return
			}
			for _, p := range paths {
				if err := engine.TrustEvaluator(p); err != nil {
					s.u.showError(err, "The plugin was not approved.")
					return
				}
			}
			s.Discover()
		}, s.u.win)
}

func (s *evalScreen) describe(name string) {
	info, ok := s.infos[name]
	if !ok {
		return
	}
	text := fmt.Sprintf("%s %s — %s\nLabels: %s", info.Name, info.Version, info.Description, strings.Join(info.Labels, ", "))
	if name == engine.JudgePlugin {
		text += "\n" + judgeSettingsText(s.u.st.cfg.Evaluation)
	} else {
		for _, st := range info.Settings {
			text += fmt.Sprintf("\n· %s (default %q): %s", st.Name, st.Default, st.Description)
		}
	}
	s.about.SetText(text)
}

// judgeSettingsText describes the judge's settings as config.yml sets them
// (Config tab, evaluation.judge_*).
func judgeSettingsText(ev config.EvaluationConfig) string {
	or := func(v, def string) string {
		if v == "" || v == "0" {
			return def
		}
		return v
	}
	return fmt.Sprintf("Judge model: %s · labels: %s · answer up to %s tokens\nRubric: %s\n"+
		"Answers naming no label are counted as unjudged and left out of the metrics. Change these in the Config tab (evaluation.judge_*).",
		ev.JudgeModel, or(ev.JudgeLabels, "ok, not ok (the plugin's default)"),
		or(strconv.Itoa(ev.JudgeMaxNewTokens), "the plugin's default"), or(oneLine(ev.JudgePrompt), "the plugin's built-in rubric"))
}

// Run evaluates the fine-tune (or the base model when there is no adapter
// yet) on a goroutine.
func (s *evalScreen) Run() {
	sess := s.u.st.sess
	if sess == nil {
		return
	}
	cfg := s.u.st.resolved()
	if cfg.Dataset.TestFile == "" {
		s.u.showError(errors.New("no test file"), "Set dataset.test_file (Dataset tab) to a JSONL file of {\"input\", \"label\"} rows.")
		return
	}
	opts := engine.EvalOptions{Evaluator: s.picker.Selected, CompareBase: cfg.Evaluation.CompareBase,
		PluginDirs: s.pluginDirs, DevPlugins: s.devPlugins}
	note := "base model (no adapter in " + s.u.st.adapterWhere() + " yet)"
	if adapterDir := s.u.st.adapterDir(); engine.HasAdapter(adapterDir) {
		a, _, err := s.u.st.fineTune()
		if err != nil {
			s.u.showError(err, "The adapter folder does not fit this model: train again or set model.adapter.")
			return
		}
		opts.Adapter, opts.AdapterDir = a, adapterDir
		note = "fine-tune in " + adapterDir
	}
	if opts.Evaluator == "" {
		opts.Evaluator = cfg.Evaluation.Evaluator
	}
	opts.OutDir = engine.EvalDir(cfg, opts.Evaluator)
	if !s.u.startJob("evaluation") {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.cancelFn = cancel
	s.progress.SetValue(0)
	s.status.SetText("Evaluating the " + note + "…")
	s.refresh()
	t := throttle{interval: 100 * time.Millisecond}
	var notes []string // lines for people (a run-history warning), shown at the end
	go func() {
		res, err := sess.Evaluate(ctx, cfg, opts, func(ev progress.Event) {
			if ev.Eval == nil {
				if ev.Kind == progress.Info {
					runOnUI(func() { notes = append(notes, ev.Message) })
				}
				return
			}
			runOnUI(func() { t.do(func() { s.showProgress(ev.Eval) }) })
		})
		runOnUI(func() {
			cancel()
			s.cancelFn = nil
			s.u.st.endJob()
			switch {
			case isCancel(err):
				s.status.SetText("Evaluation cancelled.")
			case err != nil:
				s.status.SetText("Evaluation failed.")
				s.u.showError(err, "Check the test file and that the evaluator plugin is built (scripts/build-plugins.sh).")
			default:
				s.show(&res)
				s.progress.SetValue(1)
				s.status.SetText(fmt.Sprintf("Evaluated the %s. Files written to %s.", note, res.OutDir))
			}
			if len(notes) > 0 {
				s.status.SetText(s.status.Text + "\n" + strings.Join(notes, "\n"))
			}
			s.refresh()
		})
	}()
}

func (s *evalScreen) showProgress(p *progress.Eval) {
	if s.cancelFn == nil {
		return
	}
	model := "fine-tuned model"
	if p.Phase == "base" {
		model = "base model"
	}
	if p.Total > 0 {
		s.progress.SetValue(float64(p.Judged+p.Generated) / float64(2*p.Total))
	}
	s.status.SetText(fmt.Sprintf("%s: %d of %d answers generated, %d judged · %s elapsed · %s left",
		model, p.Generated, p.Total, p.Judged, duration(p.Elapsed), duration(p.ETA)))
}

// show fills the metrics, matrices and samples from a result.
func (s *evalScreen) show(res *engine.EvalResult) {
	s.res = res
	m := res.Tuned.Metrics
	text := fmt.Sprintf("Accuracy %.3f (%d of %d) · %q: precision %.3f, recall %.3f, F1 %.3f · macro F1 %.3f",
		m.Accuracy, m.Correct, m.Judged, m.Positive, m.Precision, m.Recall, m.F1, m.Macro.F1)
	if m.Unjudged > 0 {
		text += fmt.Sprintf("\n%d of %d samples unjudged (the evaluator could not judge them); the figures cover the other %d.",
			m.Unjudged, m.Total, m.Judged)
	}
	if c := res.Comparison; c != nil {
		da, df, dm := c.Delta()
		text += fmt.Sprintf("\nvs base: accuracy %+.3f, F1 %+.3f, macro F1 %+.3f · %d fixed, %d broken, %d changed but still wrong",
			da, df, dm, len(c.Fixed), len(c.Broken), c.Changed)
	}
	s.summary.SetText(text)
	s.matrix.update()
	s.baseMat.update()
	s.baseMat.raster.Hidden = res.Base == nil
	s.baseMat.raster.Refresh()
	s.rows = sampleRows(res)
	s.metrics.Refresh()
	s.samples.Refresh()
}

// sampleRows pairs each result with the base run's and marks the flips,
// flipped samples first.
func sampleRows(res *engine.EvalResult) []sampleRow {
	base := map[string]*eval.Result{}
	if res.Base != nil {
		for i := range res.Base.Results {
			base[res.Base.Results[i].ID] = &res.Base.Results[i]
		}
	}
	var flipped, rest []sampleRow
	for _, r := range res.Tuned.Results {
		row := sampleRow{r: r, base: base[r.ID]}
		if row.base != nil && row.base.Correct() != r.Correct() {
			row.flip = "broken"
			if r.Correct() {
				row.flip = "fixed"
			}
			flipped = append(flipped, row)
			continue
		}
		rest = append(rest, row)
	}
	return append(flipped, rest...)
}

func (s *evalScreen) metricSize() (int, int) {
	if s.res == nil {
		return 0, len(metricColumns)
	}
	return len(s.res.Tuned.Metrics.Classes) + 2, len(metricColumns)
}

func (s *evalScreen) metricCell(id widget.TableCellID, l *widget.Label) {
	m := s.res.Tuned.Metrics
	var name string
	var p, r, f float64
	support, predicted := "", ""
	switch n := len(m.Classes); {
	case id.Row < n:
		c := m.Classes[id.Row]
		name, p, r, f = c.Label, c.Precision, c.Recall, c.F1
		support, predicted = fmt.Sprint(c.Support), fmt.Sprint(c.Predicted)
	case id.Row == n:
		name, p, r, f = "macro avg", m.Macro.Precision, m.Macro.Recall, m.Macro.F1
	default:
		name, p, r, f = "weighted avg", m.Weighted.Precision, m.Weighted.Recall, m.Weighted.F1
	}
	vals := []string{name, fmt.Sprintf("%.3f", p), fmt.Sprintf("%.3f", r), fmt.Sprintf("%.3f", f), support, predicted}
	l.SetText(vals[id.Col])
}

func (s *evalScreen) sampleSize() (int, int) { return len(s.rows), len(sampleColumns) }

func (s *evalScreen) sampleCell(id widget.TableCellID, l *widget.Label) {
	row := s.rows[id.Row]
	r := row.r
	baseLabel := ""
	if row.base != nil {
		baseLabel = row.base.Predicted
	}
	ok := "✗"
	if r.Correct() {
		ok = "✓"
	}
	vals := []string{fmt.Sprint(r.Line), oneLine(r.Input), oneLine(r.Output), r.Label, r.Predicted, ok, baseLabel, row.flip, oneLine(r.Reason)}
	l.SetText(vals[id.Col])
	switch {
	case row.flip == "fixed":
		l.Importance = widget.SuccessImportance
	case row.flip == "broken":
		l.Importance = widget.DangerImportance
	case id.Col == 5 && !r.Correct():
		l.Importance = widget.WarningImportance
	default:
		l.Importance = widget.MediumImportance
	}
	l.Refresh()
}

// showSample shows one sample in full: input, output, verdicts, reason.
func (s *evalScreen) showSample(i int) {
	if i < 0 || i >= len(s.rows) {
		return
	}
	row := s.rows[i]
	r := row.r
	text := fmt.Sprintf("Line %d\n\nInput:\n%s\n\nGenerated:\n%s\n\nExpected %q, judged %q (score %.2f)\n%s",
		r.Line, r.Input, r.Output, r.Label, r.Predicted, r.Score, r.Reason)
	if r.Reference != "" {
		text += "\n\nReference:\n" + r.Reference
	}
	if b := row.base; b != nil {
		text += fmt.Sprintf("\n\nBase model (judged %q):\n%s\n%s", b.Predicted, b.Output, b.Reason)
	}
	if row.flip != "" {
		text += "\n\nVerdict " + row.flip + " by the fine-tune."
	}
	s.detail.SetText(text)
}

// oneLine flattens text for a table cell.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// csvBytes is the per-sample table as CSV.
func (s *evalScreen) csvBytes() ([]byte, error) {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	w.Write([]string{"line", "input", "output", "label", "predicted", "correct", "score", "reason", "base_predicted", "change"})
	for _, row := range s.rows {
		r := row.r
		base := ""
		if row.base != nil {
			base = row.base.Predicted
		}
		w.Write([]string{fmt.Sprint(r.Line), r.Input, r.Output, r.Label, r.Predicted, fmt.Sprint(r.Correct()),
			fmt.Sprint(r.Score), r.Reason, base, row.flip})
	}
	w.Flush()
	return b.Bytes(), w.Error()
}

// jsonBytes is the whole result (metrics, samples, comparison) as JSON.
func (s *evalScreen) jsonBytes() ([]byte, error) {
	return json.MarshalIndent(s.res, "", "  ")
}

// exportFile saves the bytes of content under a picked name.
func (s *evalScreen) exportFile(name string, content func() ([]byte, error)) {
	if s.res == nil {
		return
	}
	d := dialog.NewFileSave(func(w fyne.URIWriteCloser, err error) {
		if err != nil || w == nil {
			return
		}
		w.Close()
		b, err := content()
		if err == nil {
			err = atomicfile.WriteFile(uriPath(w.URI()), b)
		}
		if err != nil {
			s.u.showError(err, "Pick a folder you can write to.")
			return
		}
		s.status.SetText("Saved " + uriPath(w.URI()) + ".")
	}, s.u.win)
	d.SetFileName(name)
	d.Resize(fyne.NewSize(900, 600))
	d.Show()
}

// cancel stops a running evaluation.
func (s *evalScreen) cancel() {
	if s.cancelFn != nil {
		s.cancelFn()
	}
}
