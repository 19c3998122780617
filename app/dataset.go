package app

import (
	"context"
	"errors"
	"fmt"
	"image"
	"path/filepath"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/storage"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"
	"gonum.org/v1/plot/vg"

	"qwentune/engine"
	"qwentune/engine/dataset"
	"qwentune/engine/eval"
)

// datasetScreen shows the training data as the model will see it: the rows,
// each row's tokens coloured by whether the loss counts them, the length
// histogram, lints and bad lines. Training is enabled only after this.
type datasetScreen struct {
	u *UI
	// stopRead cancels the reading in progress (nil when none): quitting
	// the app or stopping every job interrupts it at once.
	stopRead context.CancelFunc

	trainFile *widget.Entry
	testFile  *widget.Entry
	inspect   *widget.Button
	summary   *widget.Label
	table     *widget.Table
	tokens    *widget.RichText
	rowInfo   *widget.Label
	hist      *plotView
	problems  *widget.Label
	testInfo  *widget.Label

	selected int
}

var datasetColumns = []string{"Line", "Format", "Tokens", "Trained", "Truncated"}

func newDatasetScreen(u *UI) *datasetScreen {
	s := &datasetScreen{u: u, selected: -1}
	s.trainFile = widget.NewEntry()
	s.trainFile.SetPlaceHolder("train.jsonl")
	s.trainFile.OnChanged = func(v string) { s.u.st.setKey("dataset.train_file", v, s) }
	s.testFile = widget.NewEntry()
	s.testFile.SetPlaceHolder("test.jsonl (optional, for Evaluate)")
	s.testFile.OnChanged = func(v string) { s.u.st.setKey("dataset.test_file", v, s) }
	s.inspect = widget.NewButton("Load and inspect", s.Inspect)
	s.inspect.Importance = widget.HighImportance
	s.summary = widget.NewLabel("Pick the training file (or drop a .jsonl file on the window), then press Load and inspect.")
	s.summary.Wrapping = fyne.TextWrapWord
	s.table = widget.NewTable(s.tableSize, func() fyne.CanvasObject { return widget.NewLabel("prompt_completion") }, s.tableCell)
	s.table.ShowHeaderRow = true
	s.table.CreateHeader = func() fyne.CanvasObject {
		return widget.NewLabelWithStyle("", fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	}
	s.table.UpdateHeader = func(id widget.TableCellID, o fyne.CanvasObject) {
		if id.Col >= 0 && id.Col < len(datasetColumns) {
			o.(*widget.Label).SetText(datasetColumns[id.Col])
		}
	}
	for i, w := range []float32{60, 150, 70, 70, 80} {
		s.table.SetColumnWidth(i, w)
	}
	s.table.OnSelected = func(id widget.TableCellID) { s.ShowRow(id.Row) }
	s.tokens = widget.NewRichText()
	s.tokens.Wrapping = fyne.TextWrapWord
	s.rowInfo = widget.NewLabel("Select a row to see its training text. Green tokens are trained on; grey ones only give context.")
	s.rowInfo.Wrapping = fyne.TextWrapWord
	s.hist = newPlotView(func(w, h vg.Length) image.Image {
		d := s.u.st.data
		if d == nil {
			return Histogram(nil, 0, w, h)
		}
		return Histogram(d.Lengths, d.Options.MaxLength, w, h)
	}, 480, 260)
	s.problems = widget.NewLabel("")
	s.problems.Wrapping = fyne.TextWrapWord
	s.testInfo = widget.NewLabel("")
	s.testInfo.Wrapping = fyne.TextWrapWord
	u.st.observe(s.changed)
	return s
}

// changed follows the state: the data files, the inspected data (dropped
// when the model changes), the button.
func (s *datasetScreen) changed(c change) {
	if c.config && c.from != s {
		s.load()
	}
	if c.data {
		if s.u.st.data != nil {
			s.show(s.u.st.data)
		} else if c.session {
			s.summary.SetText("The model changed: press Load and inspect again to see the rows with its tokenizer.")
			s.show(nil)
		}
	}
	s.refresh()
}

func (s *datasetScreen) content() fyne.CanvasObject {
	pickTrain := widget.NewButton("Browse…", func() { s.pick(s.trainFile) })
	pickTest := widget.NewButton("Browse…", func() { s.pick(s.testFile) })
	files := widget.NewForm(
		widget.NewFormItem("Train file", container.NewBorder(nil, nil, nil, pickTrain, s.trainFile)),
		widget.NewFormItem("Test file", container.NewBorder(nil, nil, nil, pickTest, s.testFile)),
	)
	top := container.NewVBox(files, container.NewHBox(s.inspect), s.summary)
	legend := container.NewHBox(
		widget.NewRichText(&widget.TextSegment{Text: "trained on", Style: trainedStyle()}),
		widget.NewRichText(&widget.TextSegment{Text: "context only (masked)", Style: maskedStyle()}))
	rowView := container.NewBorder(container.NewVBox(s.rowInfo, legend), nil, nil, nil, container.NewVScroll(s.tokens))
	left := container.NewVSplit(s.table, rowView)
	left.Offset = 0.45
	right := container.NewVScroll(container.NewVBox(
		widget.NewCard("Token lengths", "", s.hist.raster),
		widget.NewCard("Warnings and bad lines", "", s.problems),
		widget.NewCard("Test file", "", s.testInfo)))
	split := container.NewHSplit(left, right)
	split.Offset = 0.55
	return container.NewBorder(top, nil, nil, nil, split)
}

// load shows the config's data files.
func (s *datasetScreen) load() {
	if cfg := s.u.st.cfg.Dataset; s.trainFile.Text != cfg.TrainFile {
		s.trainFile.SetText(cfg.TrainFile)
	}
	if cfg := s.u.st.cfg.Dataset; s.testFile.Text != cfg.TestFile {
		s.testFile.SetText(cfg.TestFile)
	}
}

func (s *datasetScreen) refresh() {
	if s.stopRead != nil {
		// While the file is read, the button stops the reading.
		setEnabled(s.inspect, true)
		s.inspect.SetText("Stop reading")
		return
	}
	setEnabled(s.inspect, s.u.st.sess != nil && s.u.st.idle())
	if s.u.st.sess == nil {
		s.inspect.SetText("Load and inspect (load a model first)")
	} else {
		s.inspect.SetText("Load and inspect")
	}
}

func (s *datasetScreen) pick(target *widget.Entry) {
	d := dialog.NewFileOpen(func(r fyne.URIReadCloser, err error) {
		if err != nil || r == nil {
			return
		}
		r.Close()
		s.PickFile(target == s.testFile, uriPath(r.URI()))
	}, s.u.win)
	d.SetFilter(storage.NewExtensionFileFilter([]string{".jsonl"}))
	startIn(s.u.st, d.SetLocation)
	d.Resize(fyne.NewSize(900, 600))
	d.Show()
}

// PickFile is what the file pickers and drag and drop call: it sets the
// train (or test) file and inspects the data at once.
func (s *datasetScreen) PickFile(test bool, path string) {
	if test {
		s.testFile.SetText(path)
	} else {
		s.trainFile.SetText(path)
	}
	if s.u.st.sess != nil && s.u.st.idle() {
		s.Inspect()
	}
}

// dropped takes .jsonl files dropped on the window: a name with "test" is
// the test file, anything else the train file.
func (s *datasetScreen) dropped(uris []fyne.URI) {
	for _, u := range uris {
		if !strings.EqualFold(filepath.Ext(u.Path()), ".jsonl") {
			continue
		}
		s.u.SelectTab(TabDataset)
		s.PickFile(strings.Contains(strings.ToLower(filepath.Base(u.Path())), "test"), u.Path())
	}
}

// Inspect reads and tokenizes both files on a goroutine.
func (s *datasetScreen) Inspect() {
	if s.stopRead != nil {
		s.stopRead()
		return
	}
	sess := s.u.st.sess
	if sess == nil {
		s.u.showError(errors.New("no model loaded"), "Load a model on the Model & config tab first: its tokenizer and chat template decide what the rows look like.")
		return
	}
	cfg := s.u.st.resolved()
	if !s.u.startJob("reading the dataset") {
		return
	}
	s.summary.SetText("Reading " + cfg.Dataset.TrainFile + "…")
	ctx, cancel := context.WithCancel(context.Background())
	s.stopRead = cancel
	s.refresh()
	go func() {
		defer cancel()
		data, err := engine.InspectDatasetContext(ctx, cfg.Dataset.TrainFile, sess.Tokenizer, cfg.Dataset)
		var tests []eval.Sample
		var testErr error
		if cfg.Dataset.TestFile != "" {
			tests, testErr = eval.LoadTestSet(cfg.Dataset.TestFile)
		}
		runOnUI(func() {
			s.stopRead = nil
			s.u.st.endJob()
			s.refresh()
			if errors.Is(err, context.Canceled) {
				s.summary.SetText("Reading stopped.")
				return
			}
			if err != nil {
				s.summary.SetText("Could not read the training file.")
				s.u.showError(err, "Check the path of the train file, or pick it with Browse….")
				return
			}
			s.showTests(cfg.Dataset.TestFile, tests, testErr)
			s.u.st.setData(data)
		})
	}()
}

// show fills the screen from the inspected data (nil empties it).
func (s *datasetScreen) show(rep *engine.Dataset) {
	s.selected = -1
	s.table.UnselectAll()
	s.table.Refresh()
	s.tokens.Segments = nil
	s.tokens.Refresh()
	s.hist.update()
	if rep == nil {
		s.problems.SetText("")
		return
	}
	format := "no valid row"
	if rep.Format != "" {
		format = rep.Format.Describe()
	}
	st := rep.Stats
	s.summary.SetText(fmt.Sprintf("%s — %s · %d rows · %d bad lines · %d tokens, %d trained on · %d rows longer than max_length %d · length min %d, median %.0f, p95 %.0f, max %d",
		filepath.Base(rep.File), format, len(rep.Examples), len(rep.Errors), rep.Tokens, rep.Trained,
		rep.TruncatedRows, rep.Options.MaxLength, st.Min, st.Median, st.P95, st.Max))
	s.table.ScrollToTop()
	var b strings.Builder
	if len(rep.Errors) == 0 && len(rep.Lints) == 0 {
		b.WriteString("No bad lines and no warnings.")
	}
	for _, e := range rep.Errors {
		fmt.Fprintf(&b, "✗ %s\n", e.Error())
	}
	for _, l := range rep.Lints {
		fmt.Fprintf(&b, "⚠ %s\n", l.String())
	}
	s.problems.SetText(strings.TrimSpace(b.String()))
	if len(rep.Examples) > 0 {
		s.table.Select(widget.TableCellID{Row: 0, Col: 0})
	}
}

func (s *datasetScreen) showTests(path string, tests []eval.Sample, err error) {
	switch {
	case path == "":
		s.testInfo.SetText("No test file: Evaluate needs one.")
	case err != nil:
		s.testInfo.SetText(err.Error())
	default:
		labels := map[string]int{}
		for _, t := range tests {
			labels[t.Label]++
		}
		var parts []string
		for l, n := range labels {
			parts = append(parts, fmt.Sprintf("%q × %d", l, n))
		}
		s.testInfo.SetText(fmt.Sprintf("%s: %d rows; labels %s", filepath.Base(path), len(tests), strings.Join(sortStrings(parts), ", ")))
	}
}

func (s *datasetScreen) tableSize() (int, int) {
	if s.u.st.data == nil {
		return 0, len(datasetColumns)
	}
	return len(s.u.st.data.Examples), len(datasetColumns)
}

func (s *datasetScreen) tableCell(id widget.TableCellID, o fyne.CanvasObject) {
	l := o.(*widget.Label)
	d := s.u.st.data
	if d == nil || id.Row >= len(d.Examples) {
		l.SetText("")
		return
	}
	e := d.Examples[id.Row]
	var v string
	switch id.Col {
	case 0:
		v = fmt.Sprint(e.Line)
	case 1:
		v = string(e.Format)
	case 2:
		v = fmt.Sprint(len(e.IDs))
	case 3:
		v = fmt.Sprint(e.TrainedTokens())
	case 4:
		if e.Truncated > 0 {
			v = fmt.Sprintf("%d cut", e.Truncated)
		} else {
			v = "—"
		}
	}
	l.SetText(v)
}

// ShowRow renders row i's training text, tokens coloured by the loss mask.
func (s *datasetScreen) ShowRow(i int) {
	d := s.u.st.data
	if d == nil || i < 0 || i >= len(d.Examples) || s.u.st.sess == nil {
		return
	}
	s.selected = i
	e := d.Examples[i]
	toks := dataset.Tokens(e, s.u.st.sess.Tokenizer)
	var segs []widget.RichTextSegment
	var run strings.Builder
	flush := func(trained bool) {
		if run.Len() == 0 {
			return
		}
		st := maskedStyle()
		if trained {
			st = trainedStyle()
		}
		// One segment per line keeps RichText's wrapping right.
		lines := strings.Split(run.String(), "\n")
		for j, line := range lines {
			seg := &widget.TextSegment{Text: line, Style: st}
			if j < len(lines)-1 {
				seg.Style.Inline = false
			}
			segs = append(segs, seg)
		}
		run.Reset()
	}
	for j, t := range toks {
		if j > 0 && t.Trained != toks[j-1].Trained {
			flush(toks[j-1].Trained)
		}
		run.WriteString(t.Text)
	}
	if len(toks) > 0 {
		flush(toks[len(toks)-1].Trained)
	}
	s.tokens.Segments = segs
	s.tokens.Refresh()
	info := fmt.Sprintf("Line %d · %s · %d tokens, %d trained on", e.Line, e.Format.Describe(), len(e.IDs), e.TrainedTokens())
	if e.Truncated > 0 {
		info += fmt.Sprintf(" · %d tokens cut by max_length", e.Truncated)
	}
	for _, l := range e.Lints {
		info += "\n⚠ " + l.Message
	}
	s.rowInfo.SetText(info)
}

func trainedStyle() widget.RichTextStyle {
	return widget.RichTextStyle{Inline: true, ColorName: theme.ColorNameSuccess, TextStyle: fyne.TextStyle{Bold: true}}
}

func maskedStyle() widget.RichTextStyle {
	return widget.RichTextStyle{Inline: true, ColorName: theme.ColorNamePlaceHolder}
}

// cancel stops reading the training file, if it is being read.
func (s *datasetScreen) cancel() {
	if s.stopRead != nil {
		s.stopRead()
	}
}
