package app

import (
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/storage"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"
	"gopkg.in/yaml.v3"

	"qwentune/engine/config"
)

// configScreen is the form generated from config.Fields(): one widget per
// key with its help text, validated on every change.
type configScreen struct {
	u *UI

	fields   []config.Field
	setters  map[string]func(string)  // show a value in the key's widget
	problems map[string]*widget.Label // a key's error, under its widget
	loading  bool
	// presetting is set while ApplyPreset selects its preset in the picker.
	presetting bool

	status   *widget.Label
	warnings *widget.Label
	// preset picks one of config.Presets; presetNote says what the
	// selected one is for and what it changed.
	preset     *widget.Select
	presetNote *widget.Label
	body       fyne.CanvasObject
}

func newConfigScreen(u *UI) *configScreen {
	s := &configScreen{u: u, fields: config.Fields(), setters: map[string]func(string){}, problems: map[string]*widget.Label{}}
	s.status = widget.NewLabel("")
	s.status.Wrapping = fyne.TextWrapWord
	s.warnings = widget.NewLabel("")
	s.warnings.Wrapping = fyne.TextWrapWord
	s.warnings.Importance = widget.WarningImportance
	s.warnings.Hide()
	s.preset = widget.NewSelect(config.PresetNames(), func(name string) {
		if name != "" && !s.presetting {
			s.ApplyPreset(name, "")
		}
	})
	s.preset.PlaceHolder = "Preset…"
	s.presetNote = widget.NewLabel("")
	s.presetNote.Wrapping = fyne.TextWrapWord
	s.presetNote.Importance = widget.HighImportance
	s.presetNote.Hide()
	s.body = s.build()
	u.st.observe(s.changed)
	return s
}

// changed shows a config that another screen (or a file) changed, and the
// file in use.
func (s *configScreen) changed(c change) {
	switch {
	case c.config && c.from != s:
		s.load()
	case c.file:
		s.checkAll()
	}
	if c.config {
		s.syncPreset()
	}
}

// syncPreset unselects the preset once the config no longer holds its
// values (a key was edited, another file opened).
func (s *configScreen) syncPreset() {
	name := s.preset.Selected
	if name == "" {
		return
	}
	if p, err := config.FindPreset(name); err == nil && p.Matches(s.u.st.cfg) {
		return
	}
	s.presetting = true
	s.preset.ClearSelected()
	s.presetting = false
	s.presetNote.Hide()
}

// presetOf names the preset whose values the config holds, "" for none.
func presetOf(c config.Config) string {
	for _, p := range config.Presets() {
		if p.Matches(c) {
			return p.Name
		}
	}
	return ""
}

func (s *configScreen) content() fyne.CanvasObject {
	open := widget.NewButton("Open…", s.pickOpen)
	save := widget.NewButton("Save", func() {
		if s.u.st.cfgPath == "" {
			s.pickSave()
			return
		}
		s.save(s.u.st.cfgPath)
	})
	saveAs := widget.NewButton("Save as…", s.pickSave)
	bar := container.NewHBox(widget.NewLabelWithStyle("config.yml", fyne.TextAlignLeading, fyne.TextStyle{Bold: true}),
		open, save, saveAs, s.preset)
	top := container.NewVBox(bar, s.presetNote, s.status, s.warnings)
	return container.NewBorder(top, nil, nil, nil, container.NewVScroll(s.body))
}

// build makes one card per section with a form of its keys.
func (s *configScreen) build() fyne.CanvasObject {
	box := container.NewVBox()
	for _, sec := range config.Sections() {
		form := widget.NewForm()
		for _, f := range s.fields {
			if k, _, _ := strings.Cut(f.Key, "."); k != sec.Key {
				continue
			}
			// The help is a wrapped label rather than the form's hint, which
			// is one unwrapped line as wide as the longest help text.
			help := widget.NewLabel(f.Help)
			help.Wrapping = fyne.TextWrapWord
			help.SizeName = theme.SizeNameCaptionText
			help.Importance = widget.LowImportance
			problem := widget.NewLabel("")
			problem.Wrapping = fyne.TextWrapWord
			problem.Importance = widget.DangerImportance
			problem.Hide()
			s.problems[f.Key] = problem
			form.Append(f.Key[len(sec.Key)+1:], container.NewVBox(s.widgetFor(f), problem, help))
		}
		box.Add(widget.NewCard(sec.Key, sec.Comment, form))
	}
	return box
}

// apply sets key to v on a copy of the config and keeps it when valid.
func (s *configScreen) apply(key, v string) error {
	if s.loading {
		return nil
	}
	c := s.u.st.cfg
	if err := c.Set(key + "=" + v); err != nil {
		return cleanSetError(err)
	}
	s.u.st.setConfig(c, s)
	s.checkAll()
	return nil
}

// cleanSetError drops the "--set" prefix of config errors: in the form the
// field itself is the location.
func cleanSetError(err error) error {
	var ce *config.Error
	if errors.As(err, &ce) {
		return errors.New(ce.Message)
	}
	return err
}

// widgetFor makes the input of one key.
func (s *configScreen) widgetFor(f config.Field) fyne.CanvasObject {
	key := f.Key
	switch f.Kind {
	case config.KindBool:
		c := widget.NewCheck("", func(b bool) { s.report(key, s.apply(key, strconv.FormatBool(b))) })
		s.setters[key] = func(v string) { c.SetChecked(v == "true") }
		return c
	case config.KindChoice:
		sel := widget.NewSelect(f.Choices, func(v string) { s.report(key, s.apply(key, v)) })
		s.setters[key] = func(v string) { sel.SetSelected(v) }
		return sel
	case config.KindList:
		return s.listWidget(f)
	}
	e := widget.NewEntry()
	e.Validator = func(v string) error {
		c := s.u.st.cfg
		return cleanSetError(c.Set(key + "=" + v))
	}
	e.OnChanged = func(v string) { s.report(key, s.apply(key, v)) }
	s.setters[key] = func(v string) { e.SetText(v) }
	if f.Kind != config.KindPath {
		if f.Kind == config.KindString && f.Expect != "" && f.Expect != "a string" && f.Expect != "a non-empty string" {
			e.SetPlaceHolder(f.Expect)
		}
		return e
	}
	folder := key == "training.output_dir" || key == "model.adapter"
	pick := widget.NewButton("…", func() { s.pickPath(e, folder) })
	return container.NewBorder(nil, nil, nil, pick, e)
}

// listWidget is a grid of check boxes, one per choice plus all-linear.
func (s *configScreen) listWidget(f config.Field) fyne.CanvasObject {
	key := f.Key
	opts := append(append([]string(nil), f.Choices...), config.AllLinear)
	checks := make([]*widget.Check, len(opts))
	changed := func(bool) {
		var sel []string
		for i, c := range checks {
			if c.Checked {
				sel = append(sel, opts[i])
			}
		}
		s.report(key, s.apply(key, "["+strings.Join(sel, ",")+"]"))
	}
	grid := container.NewGridWithColumns(4)
	for i, o := range opts {
		checks[i] = widget.NewCheck(o, changed)
		grid.Add(checks[i])
	}
	s.setters[key] = func(v string) {
		on := map[string]bool{}
		for _, m := range splitList(v) {
			on[m] = true
		}
		for i, c := range checks {
			c.SetChecked(on[opts[i]])
		}
	}
	return grid
}

// report shows a field's error under it (and clears it once the value is
// valid), then the state of the whole config.
func (s *configScreen) report(key string, err error) {
	if l := s.problems[key]; l != nil {
		if err != nil {
			l.SetText(err.Error())
			l.Show()
		} else if !l.Hidden {
			l.Hide()
		}
	}
	if err != nil {
		s.status.Importance = widget.DangerImportance
		s.status.SetText(key + ": " + err.Error())
		return
	}
	s.checkAll()
}

// checkAll shows whether the whole config is valid (cross-key rules included).
func (s *configScreen) checkAll() {
	if err := s.u.st.cfg.Validate(); err != nil {
		s.status.Importance = widget.DangerImportance
		s.status.SetText("Fix before training:\n" + err.Error())
		return
	}
	s.status.Importance = widget.SuccessImportance
	where := "not saved yet"
	if s.u.st.cfgPath != "" {
		where = s.u.st.cfgPath
	}
	s.status.SetText("Config is valid (" + where + ").")
}

// load puts the config's values into the widgets.
func (s *configScreen) load() {
	vals, err := configValues(s.u.st.cfg)
	if err != nil {
		s.report("", err)
		return
	}
	s.loading = true
	for key, set := range s.setters {
		set(vals[key])
	}
	s.loading = false
	for _, l := range s.problems {
		l.Hide()
	}
	s.checkAll()
}

func (s *configScreen) setWarnings(ws []string) {
	if len(ws) == 0 {
		s.warnings.Hide()
		return
	}
	s.warnings.SetText(strings.Join(ws, "\n"))
	s.warnings.Show()
}

// ApplyPreset sets the keys of the preset called name (config.Presets),
// selects it in the picker and says what it is for and what it changed;
// why, when not "", says why it was chosen for the user.
func (s *configScreen) ApplyPreset(name, why string) {
	p, err := config.FindPreset(name)
	if err != nil {
		s.u.showError(err, "")
		return
	}
	c := s.u.st.cfg
	changes, err := p.Apply(&c)
	if err != nil {
		s.u.showError(err, "")
		return
	}
	s.presetting = true
	s.preset.SetSelected(name)
	s.presetting = false
	s.u.st.setConfig(c, nil)
	what := make([]string, len(changes))
	for i, ch := range changes {
		what[i] = ch.String()
	}
	note := "Preset " + p.Name
	if why != "" {
		note += " is selected " + why
	}
	note += ": " + p.Summary + "."
	if len(what) > 0 {
		note += "\nIt changed " + strings.Join(what, ", ") + "."
	} else {
		note += "\nThe config already had its values."
	}
	s.presetNote.SetText(note)
	s.presetNote.Show()
}

func (s *configScreen) pickOpen() {
	d := dialog.NewFileOpen(func(r fyne.URIReadCloser, err error) {
		if err != nil || r == nil {
			return
		}
		r.Close()
		if err := s.u.LoadConfig(uriPath(r.URI())); err != nil {
			s.u.showError(err, "Fix the line named above in the file (or pick another config), then open it again.")
		}
	}, s.u.win)
	d.SetFilter(storage.NewExtensionFileFilter([]string{".yml", ".yaml"}))
	startIn(s.u.st, d.SetLocation)
	d.Resize(fyne.NewSize(900, 600))
	d.Show()
}

func (s *configScreen) pickSave() {
	d := dialog.NewFileSave(func(w fyne.URIWriteCloser, err error) {
		if err != nil || w == nil {
			return
		}
		w.Close()
		s.save(uriPath(w.URI()))
	}, s.u.win)
	d.SetFileName("config.yml")
	startIn(s.u.st, d.SetLocation)
	d.Resize(fyne.NewSize(900, 600))
	d.Show()
}

func (s *configScreen) save(path string) {
	if err := s.u.SaveConfig(path); err != nil {
		s.u.showError(err, "Fix the fields shown in red, then save again.")
		return
	}
	s.checkAll()
}

// startIn opens file dialogs in the folder of st's config file.
func startIn(st *state, set func(fyne.ListableURI)) {
	dir := "."
	if st.cfgPath != "" {
		dir = filepath.Dir(st.cfgPath)
	}
	if abs, err := filepath.Abs(dir); err == nil {
		if l, err := storage.ListerForURI(storage.NewFileURI(abs)); err == nil {
			set(l)
		}
	}
}

// pickPath fills e with a picked file or folder, relative to the config's
// folder when it is inside it.
func (s *configScreen) pickPath(e *widget.Entry, folder bool) {
	set := func(p string) {
		base := "."
		if s.u.st.cfgPath != "" {
			base = filepath.Dir(s.u.st.cfgPath)
		}
		if abs, err := filepath.Abs(base); err == nil {
			if rel, err := filepath.Rel(abs, p); err == nil && !strings.HasPrefix(rel, "..") {
				p = rel
			}
		}
		e.SetText(p)
	}
	if folder {
		d := dialog.NewFolderOpen(func(l fyne.ListableURI, err error) {
			if err == nil && l != nil {
				set(uriPath(l))
			}
		}, s.u.win)
		startIn(s.u.st, d.SetLocation)
		d.Resize(fyne.NewSize(900, 600))
		d.Show()
		return
	}
	d := dialog.NewFileOpen(func(r fyne.URIReadCloser, err error) {
		if err == nil && r != nil {
			r.Close()
			set(uriPath(r.URI()))
		}
	}, s.u.win)
	startIn(s.u.st, d.SetLocation)
	d.Resize(fyne.NewSize(900, 600))
	d.Show()
}

// configValues returns every key's value as the form shows it, read from
// the config's own YAML so the form never duplicates the field layout.
func configValues(c config.Config) (map[string]string, error) {
	b, err := c.Marshal()
	if err != nil {
		return nil, err
	}
	var doc map[string]map[string]any
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, err
	}
	out := map[string]string{}
	for sec, kv := range doc {
		for k, v := range kv {
			out[sec+"."+k] = formatValue(v)
		}
	}
	return out, nil
}

func formatValue(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = fmt.Sprint(e)
		}
		return strings.Join(parts, ",")
	}
	return fmt.Sprint(v)
}

func splitList(v string) []string {
	var out []string
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
