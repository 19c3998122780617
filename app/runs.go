package app

import (
	"cmp"
	"errors"
	"fmt"
	"image"
	"image/color"
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
	"qwentune/engine/config"
	"qwentune/engine/runs"
	"qwentune/engine/trainer"
)

// runsScreen lists the recorded training and evaluation runs (the app's
// and the CLI's), overlays the loss curves of the runs ticked, sets their
// differing config keys and their metrics side by side, and opens, resumes
// or deletes a run.
type runsScreen struct {
	u *UI

	modelF, dataF *widget.Entry
	kindF         *widget.Select
	refreshB      *widget.Button
	chatB, evalB  *widget.Button
	resumeB       *widget.Button
	deleteB       *widget.Button
	clearB        *widget.Button
	status        *widget.Label
	table         *widget.Table
	curves        *plotView
	diff          *widget.Table
	metrics       *widget.Table

	// list is the runs the filters select, in the table's order.
	list     []runs.Record
	sortCol  int
	sortDesc bool
	// ticked are the runs compared, in the order they were ticked;
	// current is the run the buttons act on (the row clicked last).
	ticked  []string
	current string
	cmp     *runs.Comparison
	// gen numbers the loads, so a slow one never overwrites a newer one.
	gen int
	// polling is set while a reload is scheduled for a run still running
	// (one of the CLI's, which sends the app no event).
	polling bool
}

// pollInterval is how often the list is read again while a listed run is
// running and the Runs tab is shown.
const pollInterval = 3 * time.Second

// The columns of the runs table; the sortable ones have a sort key.
var runColumns = []struct {
	title string
	width float32
	less  func(a, b runs.Record) int
}{
	{"✓", 30, nil},
	{"Started", 160, func(a, b runs.Record) int { return a.Start.Compare(b.Start) }},
	{"Kind", 120, func(a, b runs.Record) int { return cmp.Compare(a.Kind, b.Kind) }},
	{"Model", 150, func(a, b runs.Record) int { return cmp.Compare(a.Model, b.Model) }},
	{"Data", 170, func(a, b runs.Record) int { return cmp.Compare(a.DataFile, b.DataFile) }},
	{"Final loss", 90, func(a, b runs.Record) int { return compareLoss(a.FinalLoss, b.FinalLoss) }},
	{"Status", 150, func(a, b runs.Record) int { return cmp.Compare(statusText(a), statusText(b)) }},
	{"Steps", 60, nil},
	{"Run", 230, nil},
	{"Folder", 400, nil},
}

// compareLoss orders losses with the runs that have none last.
func compareLoss(a, b *float64) int {
	switch {
	case a == nil && b == nil:
		return 0
	case a == nil:
		return 1
	case b == nil:
		return -1
	}
	return cmp.Compare(*a, *b)
}

// curveColors tell the overlaid curves apart.
var curveColors = []color.Color{
	color.RGBA{R: 0x1f, G: 0x6f, B: 0xd1, A: 0xff},
	color.RGBA{R: 0xd9, G: 0x48, B: 0x1c, A: 0xff},
	color.RGBA{R: 0x2e, G: 0x9e, B: 0x4f, A: 0xff},
	color.RGBA{R: 0x8e, G: 0x44, B: 0xad, A: 0xff},
	color.RGBA{R: 0xc9, G: 0x9a, B: 0x06, A: 0xff},
	color.RGBA{R: 0x17, G: 0xa2, B: 0xb8, A: 0xff},
	color.RGBA{R: 0xe8, G: 0x3e, B: 0x8c, A: 0xff},
	color.RGBA{R: 0x55, G: 0x55, B: 0x55, A: 0xff},
}

// Kind filter choices.
const (
	kindAll   = "train and eval"
	kindTrain = "train"
	kindEval  = "eval"
)

func newRunsScreen(u *UI) *runsScreen {
	s := &runsScreen{u: u, sortCol: 1, sortDesc: true}
	s.modelF = widget.NewEntry()
	s.modelF.SetPlaceHolder("model contains…")
	s.modelF.OnChanged = func(string) { s.reload() }
	s.dataF = widget.NewEntry()
	s.dataF.SetPlaceHolder("data file contains (or SHA-256 starts with)…")
	s.dataF.OnChanged = func(string) { s.reload() }
	s.kindF = widget.NewSelect([]string{kindAll, kindTrain, kindEval}, func(string) { s.reload() })
	s.kindF.Selected = kindAll
	s.refreshB = widget.NewButton("Refresh", s.reload)
	s.chatB = widget.NewButton("Open in Chat", func() { s.openAdapter(TabChat) })
	s.evalB = widget.NewButton("Open in Evaluate", func() { s.openAdapter(TabEvaluate) })
	s.resumeB = widget.NewButton("Resume", func() { s.Resume(s.current) })
	s.deleteB = widget.NewButton("Delete…", func() { s.confirmDelete(s.current) })
	s.deleteB.Importance = widget.DangerImportance
	s.clearB = widget.NewButton("Clear ticks", func() { s.setTicked(nil) })
	s.status = widget.NewLabel("")
	s.status.Wrapping = fyne.TextWrapWord

	s.table = widget.NewTable(func() (int, int) { return len(s.list), len(runColumns) },
		func() fyne.CanvasObject {
			l := widget.NewLabel("")
			l.Truncation = fyne.TextTruncateEllipsis
			return l
		}, s.cell)
	s.table.ShowHeaderRow = true
	s.table.CreateHeader = func() fyne.CanvasObject {
		b := widget.NewButton("", nil)
		b.Importance = widget.LowImportance
		b.Alignment = widget.ButtonAlignLeading
		return b
	}
	s.table.UpdateHeader = func(id widget.TableCellID, o fyne.CanvasObject) {
		b := o.(*widget.Button)
		if id.Col < 0 || id.Col >= len(runColumns) {
			return
		}
		c := runColumns[id.Col]
		title := c.title
		if id.Col == s.sortCol {
			title += map[bool]string{true: " ▼", false: " ▲"}[s.sortDesc]
		}
		b.SetText(title)
		col := id.Col
		if c.less == nil {
			b.OnTapped = nil
		} else {
			b.OnTapped = func() { s.SortBy(col) }
		}
	}
	for i, c := range runColumns {
		s.table.SetColumnWidth(i, c.width)
	}
	s.table.OnSelected = func(id widget.TableCellID) {
		if id.Row >= 0 && id.Row < len(s.list) {
			s.click(s.list[id.Row].ID)
		}
		s.table.UnselectAll()
	}

	s.curves = newPlotView(s.drawCurves, 420, 260)
	s.diff = newGridTable(func() []string { return s.headers("Config key") }, s.diffSize, s.diffCell)
	s.metrics = newGridTable(func() []string { return s.headers("Figure") }, s.metricsSize, s.metricsCell)
	u.st.observe(s.changed)
	return s
}

func (s *runsScreen) content() fyne.CanvasObject {
	filters := container.NewGridWithColumns(3, s.modelF, s.dataF, s.kindF)
	bar := container.NewBorder(nil, nil, nil, s.refreshB, filters)
	buttons := container.NewHBox(s.chatB, s.evalB, s.resumeB, s.deleteB, widget.NewSeparator(), s.clearB)
	top := container.NewVBox(bar, buttons, s.status)
	right := container.NewVSplit(s.diff, s.metrics)
	right.Offset = 0.45
	lower := container.NewHSplit(s.curves.raster, right)
	lower.Offset = 0.55
	split := container.NewVSplit(s.table, lower)
	split.Offset = 0.38
	return container.NewBorder(top, nil, nil, nil, split)
}

// changed reloads the list when a job starts or ends (a run is recorded
// as running, then finished, stopped or failed).
func (s *runsScreen) changed(c change) {
	if c.job || c.adapter {
		s.reload()
	}
	s.refresh()
}

// filter is what the filter entries select.
func (s *runsScreen) filter() runs.Filter {
	f := runs.Filter{Model: strings.TrimSpace(s.modelF.Text), Data: strings.TrimSpace(s.dataF.Text)}
	switch s.kindF.Selected {
	case kindTrain:
		f.Kind = runs.Train
	case kindEval:
		f.Kind = runs.Eval
	}
	return f
}

// reload reads the history again (on a goroutine) and then the comparison
// of the ticked runs.
func (s *runsScreen) reload() {
	s.gen++
	gen := s.gen
	f := s.filter()
	ticked := slices.Clone(s.ticked)
	go func() {
		list, skipped, err := runs.List(f)
		c, cerr := compareRuns(ticked)
		runOnUI(func() {
			if gen != s.gen {
				return
			}
			s.list = list
			s.sortList()
			s.cmp = c
			switch {
			case err != nil:
				s.status.SetText("Cannot read the run history: " + err.Error())
			case cerr != nil:
				s.status.SetText("Cannot compare the ticked runs: " + cerr.Error())
			case len(skipped) > 0:
				s.status.SetText(fmt.Sprintf("%d run(s); %d record(s) could not be read: %v", len(list), len(skipped), errors.Join(skipped...)))
			default:
				s.status.SetText(s.summary())
			}
			s.table.Refresh()
			s.showComparison()
			s.refresh()
			s.pollWhileRunning()
		})
	}()
}

// pollWhileRunning reloads the list a little later while a listed run is
// running and the tab is shown, so a CLI run's end shows without a click.
func (s *runsScreen) pollWhileRunning() {
	running := slices.ContainsFunc(s.list, func(r runs.Record) bool { return r.Status == runs.Running })
	if !running || s.polling {
		return
	}
	s.polling = true
	time.AfterFunc(pollInterval, func() {
		runOnUI(func() {
			s.polling = false
			if t := s.u.tabs.Selected(); t != nil && t.Text == TabRuns {
				s.reload()
			}
		})
	})
}

// compareRuns compares the ticked runs, nil when none is.
func compareRuns(ids []string) (*runs.Comparison, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	c, err := runs.Compare(ids)
	if err != nil {
		return nil, err
	}
	return &c, nil
}

// summary says what the screen shows and what clicking does.
func (s *runsScreen) summary() string {
	text := fmt.Sprintf("%d run(s). Click a row to tick it for the comparison below and to act on it with the buttons.", len(s.list))
	if r, ok := s.record(s.current); ok {
		text = "Selected: " + r.ID + " (" + statusText(r) + ", " + r.Dir + "). " + fmt.Sprintf("%d run(s) ticked.", len(s.ticked))
	}
	return text
}

// SortBy sorts the table by column col (a sortable one); a second click on
// the same column reverses the order.
func (s *runsScreen) SortBy(col int) {
	if col < 0 || col >= len(runColumns) || runColumns[col].less == nil {
		return
	}
	if col == s.sortCol {
		s.sortDesc = !s.sortDesc
	} else {
		s.sortCol, s.sortDesc = col, false
	}
	s.sortList()
	s.table.Refresh()
}

func (s *runsScreen) sortList() {
	less := runColumns[s.sortCol].less
	slices.SortStableFunc(s.list, func(a, b runs.Record) int {
		if s.sortDesc {
			return less(b, a)
		}
		return less(a, b)
	})
}

// click ticks or unticks a run and makes it the one the buttons act on.
func (s *runsScreen) click(id string) {
	s.current = id
	if i := slices.Index(s.ticked, id); i >= 0 {
		s.setTicked(slices.Delete(slices.Clone(s.ticked), i, i+1))
	} else {
		s.setTicked(append(slices.Clone(s.ticked), id))
	}
}

// Tick ticks exactly the listed runs whose records pass keep, in table
// order, and compares them.
func (s *runsScreen) Tick(keep func(runs.Record) bool) {
	var ids []string
	for _, r := range s.list {
		if keep(r) {
			ids = append(ids, r.ID)
		}
	}
	s.setTicked(ids)
}

func (s *runsScreen) setTicked(ids []string) {
	s.ticked = ids
	if len(ids) > 0 && s.current == "" {
		s.current = ids[len(ids)-1]
	}
	s.reload()
}

// record finds a listed run.
func (s *runsScreen) record(id string) (runs.Record, bool) {
	for _, r := range s.list {
		if r.ID == id {
			return r, true
		}
	}
	return runs.Record{}, false
}

// statusText is a run's status, with the folder's absence when it is gone.
func statusText(r runs.Record) string {
	if r.Missing {
		return string(r.Status) + " · folder missing"
	}
	return string(r.Status)
}

func (s *runsScreen) cell(id widget.TableCellID, o fyne.CanvasObject) {
	l := o.(*widget.Label)
	if id.Row >= len(s.list) {
		l.SetText("")
		return
	}
	r := s.list[id.Row]
	var v string
	switch runColumns[id.Col].title {
	case "✓":
		if slices.Contains(s.ticked, r.ID) {
			v = "✓"
		}
	case "Started":
		v = r.Start.Local().Format("2006-01-02 15:04:05")
	case "Kind":
		v = string(r.Kind)
		if r.Kind == runs.Eval && r.Evaluator != "" {
			v += " (" + r.Evaluator + ")"
		}
	case "Model":
		v = r.Model
	case "Data":
		v = filepath.Base(r.DataFile)
		if r.DataSHA256 != "" {
			v += " · " + r.DataSHA256[:min(8, len(r.DataSHA256))]
		}
	case "Final loss":
		if r.FinalLoss != nil {
			v = fmt.Sprintf("%.4f", *r.FinalLoss)
		} else if a, ok := r.Metrics["accuracy"]; ok && r.Kind == runs.Eval {
			v = fmt.Sprintf("acc %.3f", a)
		}
	case "Status":
		v = statusText(r)
	case "Steps":
		if r.Steps > 0 {
			v = fmt.Sprint(r.Steps)
		}
	case "Run":
		v = r.ID
	case "Folder":
		v = r.Dir
	}
	l.SetText(v)
	switch {
	case r.Missing || r.Status == runs.Failed:
		l.Importance = widget.DangerImportance
	case slices.Contains(s.ticked, r.ID):
		l.Importance = widget.HighImportance
	default:
		l.Importance = widget.MediumImportance
	}
	l.Refresh()
}

// runLabel names a run in the legend and the comparison tables: the end of
// its id and the values of the first differing config keys.
func (s *runsScreen) runLabel(i int) string {
	label := shortID(s.cmp.Runs[i].ID)
	n := 0
	for _, d := range s.cmp.Config {
		if strings.HasSuffix(d.Key, "output_dir") || d.Values[i] == nil {
			continue
		}
		_, name, _ := strings.Cut(d.Key, ".")
		label += " " + name + "=" + *d.Values[i]
		if n++; n == 2 {
			break
		}
	}
	return label
}

// drawCurves overlays the training-loss curves of the ticked runs.
func (s *runsScreen) drawCurves(w, h vg.Length) image.Image {
	var series []Series
	if s.cmp != nil {
		for i, c := range s.cmp.Curves {
			if len(c.Points) == 0 {
				continue
			}
			sr := Series{Name: s.runLabel(i), Color: curveColors[i%len(curveColors)]}
			for _, p := range c.Points {
				sr.X = append(sr.X, float64(p.Step))
				sr.Y = append(sr.Y, p.Value)
			}
			series = append(series, sr)
		}
	}
	return LinePlot("Training loss of the ticked runs", "step", "loss", series, w, h)
}

// showComparison redraws the curves and the two side-by-side tables, and
// says which ticked runs have no curve.
func (s *runsScreen) showComparison() {
	s.curves.update()
	n := 1
	if s.cmp != nil {
		n += len(s.cmp.Runs)
		var notes []string
		for i, c := range s.cmp.Curves {
			if c.Err != "" {
				notes = append(notes, s.runLabel(i)+": "+c.Err)
			}
		}
		notes = append(notes, s.cmp.Warnings...)
		if len(notes) > 0 {
			s.status.SetText(s.status.Text + "\nNo curve for " + strings.Join(notes, "; "))
		}
	}
	for _, t := range []*widget.Table{s.diff, s.metrics} {
		t.SetColumnWidth(0, 190)
		for i := 1; i < n; i++ {
			t.SetColumnWidth(i, 110)
		}
		t.Refresh()
	}
}

// headers are the comparison tables' column titles: the end of each run's
// id, as the legend starts.
func (s *runsScreen) headers(first string) []string {
	h := []string{first}
	if s.cmp != nil {
		for _, r := range s.cmp.Runs {
			h = append(h, shortID(r.ID))
		}
	}
	return h
}

// shortID is the end of a run id: its random part, which runs commands
// accept for the whole id.
func shortID(id string) string { return id[max(0, len(id)-8):] }

func (s *runsScreen) cols() int {
	if s.cmp == nil {
		return 1
	}
	return 1 + len(s.cmp.Runs)
}

func (s *runsScreen) diffSize() (int, int) {
	if s.cmp == nil {
		return 0, 1
	}
	return len(s.cmp.Config), s.cols()
}

func (s *runsScreen) diffCell(id widget.TableCellID, l *widget.Label) {
	d := s.cmp.Config[id.Row]
	if id.Col == 0 {
		l.SetText(d.Key)
		return
	}
	if v := d.Values[id.Col-1]; v != nil {
		l.SetText(*v)
	} else {
		l.SetText("—")
	}
}

func (s *runsScreen) metricsSize() (int, int) {
	if s.cmp == nil {
		return 0, 1
	}
	return len(s.cmp.Metrics), s.cols()
}

func (s *runsScreen) metricsCell(id widget.TableCellID, l *widget.Label) {
	m := s.cmp.Metrics[id.Row]
	if id.Col == 0 {
		l.SetText(m.Name)
		return
	}
	if v := m.Values[id.Col-1]; v != nil {
		l.SetText(fmt.Sprintf("%.4g", *v))
	} else {
		l.SetText("—")
	}
}

// newGridTable is a read-only table whose columns change with the data:
// headers gives their titles.
func newGridTable(headers func() []string, size func() (int, int), cell func(widget.TableCellID, *widget.Label)) *widget.Table {
	t := widget.NewTable(size, func() fyne.CanvasObject {
		l := widget.NewLabel("")
		l.Truncation = fyne.TextTruncateEllipsis
		return l
	}, func(id widget.TableCellID, o fyne.CanvasObject) { cell(id, o.(*widget.Label)) })
	t.ShowHeaderRow = true
	t.CreateHeader = func() fyne.CanvasObject {
		l := widget.NewLabelWithStyle("", fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
		l.Truncation = fyne.TextTruncateEllipsis
		return l
	}
	t.UpdateHeader = func(id widget.TableCellID, o fyne.CanvasObject) {
		if h := headers(); id.Col >= 0 && id.Col < len(h) {
			o.(*widget.Label).SetText(h[id.Col])
		}
	}
	return t
}

// refresh enables the buttons for the current run.
func (s *runsScreen) refresh() {
	r, ok := s.record(s.current)
	idle := s.u.st.idle()
	adapter := ok && !r.Missing && engine.HasAdapter(r.Adapter)
	setEnabled(s.chatB, adapter)
	setEnabled(s.evalB, adapter)
	setEnabled(s.resumeB, ok && idle && s.resumable(r))
	setEnabled(s.deleteB, ok && r.Status != runs.Running)
	setEnabled(s.clearB, len(s.ticked) > 0)
}

// resumable reports whether r is a training run that ended early and left
// a checkpoint.
func (s *runsScreen) resumable(r runs.Record) bool {
	if r.Kind != runs.Train || r.Missing {
		return false
	}
	switch r.Status {
	case runs.Stopped, runs.Interrupted, runs.Failed:
		ck, err := trainer.LatestCheckpoint(r.Dir)
		return err == nil && ck != ""
	}
	return false
}

// openAdapter makes the current run's adapter the one chat and evaluation
// use (model.adapter) and shows the tab.
func (s *runsScreen) openAdapter(tab string) {
	r, ok := s.record(s.current)
	if !ok || !engine.HasAdapter(r.Adapter) {
		return
	}
	s.u.st.setKey("model.adapter", r.Adapter, s)
	if loaded := s.u.st.sess; loaded == nil || !sameModel(loaded.Name, r.Model) {
		s.u.showError(fmt.Errorf("run %s fine-tuned %s", r.ID, r.Model),
			"model.adapter is now "+r.Adapter+". Load "+r.Model+" on the Model & config tab: the adapter fits only the model it was trained on.")
	}
	s.u.SelectTab(tab)
}

// sameModel compares model names as the engine was given them.
func sameModel(a, b string) bool {
	return a == b || filepath.Clean(a) == filepath.Clean(b)
}

// Resume continues the training run id from its latest checkpoint, with
// the config it ran with (its run_config): the form takes that config, the
// training data is inspected again when needed, and the Train screen
// starts the run.
func (s *runsScreen) Resume(id string) {
	r, ok := s.record(id)
	if !ok || !s.resumable(r) {
		return
	}
	cfg, _, err := config.Parse([]byte(r.Config), r.ID)
	if err != nil {
		s.u.showError(fmt.Errorf("run %s: its config: %w", r.ID, err), "The run cannot be resumed from the app; use qwentune train --resume with its run_config.yml.")
		return
	}
	cfg.Training.OutputDir = r.Dir
	sess := s.u.st.sess
	if sess == nil || !sameModel(sess.Name, cfg.Model.Name) {
		s.u.showError(fmt.Errorf("run %s trained %s", r.ID, cfg.Model.Name), "Load that model on the Model & config tab, then press Resume again.")
		return
	}
	s.u.st.setConfig(cfg, s)
	s.status.SetText("The form now holds run " + r.ID + "'s config; resuming it in " + r.Dir + ".")
	if s.u.st.datasetReady() {
		s.u.SelectTab(TabTrain)
		s.u.train.Start("latest")
		return
	}
	// The run's training file with the run's settings: read it as the
	// Dataset tab would, then resume.
	if !s.u.startJob("reading the dataset") {
		return
	}
	dc := cfg.Dataset
	go func() {
		data, err := engine.InspectDataset(dc.TrainFile, sess.Tokenizer, dc)
		runOnUI(func() {
			s.u.st.endJob()
			if err != nil {
				s.u.showError(err, "The run's training file cannot be read: resume it with qwentune train --resume once the file is back.")
				return
			}
			s.u.st.setData(data)
			if !s.u.st.datasetReady() {
				s.u.SelectTab(TabDataset)
				s.u.showError(errors.New(dc.TrainFile+" has bad lines now"), "Fix the lines the Dataset tab lists, inspect the file again and press Resume on the Train tab.")
				return
			}
			s.u.SelectTab(TabTrain)
			s.u.train.Start("latest")
		})
	}()
}

// confirmDelete asks before removing a run's record, and optionally its
// folder.
func (s *runsScreen) confirmDelete(id string) {
	r, ok := s.record(id)
	if !ok {
		return
	}
	folder := widget.NewCheck("Also delete the run folder "+r.Dir, nil)
	if r.Missing || r.Dir == "" {
		folder.Disable()
	}
	msg := widget.NewLabel("Remove run " + r.ID + " (" + string(r.Kind) + ", " + statusText(r) + ") from the history?")
	msg.Wrapping = fyne.TextWrapWord
	d := dialog.NewCustomConfirm("Delete run", "Delete", "Cancel", container.NewVBox(msg, folder), func(yes bool) {
		if yes {
			s.Delete(r.ID, folder.Checked)
		}
	}, s.u.win)
	d.Resize(fyne.NewSize(620, 220))
	d.Show()
}

// Delete removes the run id's record and, with deleteFolder, its folder.
func (s *runsScreen) Delete(id string, deleteFolder bool) {
	if err := runs.Remove(id, deleteFolder); err != nil {
		s.u.showError(err, "Nothing was removed.")
		return
	}
	if s.current == id {
		s.current = ""
	}
	s.setTicked(slices.DeleteFunc(slices.Clone(s.ticked), func(t string) bool { return t == id }))
}
