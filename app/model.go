package app

import (
	"context"
	"errors"
	"fmt"
	"log"
	"strings"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/storage"
	"fyne.io/fyne/v2/widget"

	"qwentune/engine"
	"qwentune/engine/progress"
	"qwentune/model"
)

// modelScreen picks and loads the base model (a Hub id, a local folder or
// the demo) with download progress, and shows its summary; the config form
// sits beside it on the same tab.
type modelScreen struct {
	u *UI

	name     *widget.Entry
	loadB    *widget.Button
	folder   *widget.Button
	gguf     *widget.Button
	demo     *widget.Button
	cancelB  *widget.Button
	progress *widget.ProgressBar
	status   *widget.Label
	summary  *widget.Form
	estimate *widget.Label
	// known lists the published Qwen2, Qwen2.5 and Qwen3 models with their
	// download size and training memory per dtype under the current config.
	known *widget.Select

	cancelFn context.CancelFunc
	// afterLoad replaces the "Loaded" status once, e.g. to say why the
	// demo model was chosen.
	afterLoad string
}

func newModelScreen(u *UI) *modelScreen {
	s := &modelScreen{u: u}
	s.name = widget.NewEntry()
	s.name.SetPlaceHolder("Qwen/Qwen2-0.5B-Instruct, a local folder, a .gguf file, or demo")
	s.name.OnChanged = func(v string) { s.u.st.setKey("model.name", v, s) }
	s.name.OnSubmitted = func(string) { s.Load() }
	s.loadB = widget.NewButton("Load model", s.Load)
	s.loadB.Importance = widget.HighImportance
	s.folder = widget.NewButton("Folder…", s.pickFolder)
	s.gguf = widget.NewButton("GGUF…", s.pickGGUF)
	s.demo = widget.NewButton("Use demo", func() { s.name.SetText(engine.DemoName) })
	s.cancelB = widget.NewButton("Cancel", s.cancel)
	s.progress = widget.NewProgressBar()
	s.progress.Hide()
	s.status = widget.NewLabel("No model loaded. Enter a Hugging Face id or pick a folder, then press Load model.")
	s.status.Wrapping = fyne.TextWrapWord
	s.summary = widget.NewForm()
	s.estimate = widget.NewLabel("Measured on a few real steps when you press Train: memory, time per step and the whole run.")
	s.estimate.Wrapping = fyne.TextWrapWord
	s.known = widget.NewSelect(nil, func(label string) {
		if id, _, ok := strings.Cut(label, " — "); ok && label != "" {
			s.name.SetText(id)
		}
	})
	s.known.PlaceHolder = "Known models: download size, training memory (float32 / bfloat16 / q8_0)"
	s.fillKnown()
	u.st.observe(s.changed)
	return s
}

// changed follows the state: the model name, the estimate, the buttons.
func (s *modelScreen) changed(c change) {
	if c.config && c.from != s {
		s.load()
	}
	if c.estimate {
		s.estimate.SetText(s.u.st.estimate)
	}
	if c.config {
		s.fillKnown()
	}
	s.refresh()
}

func (s *modelScreen) content() fyne.CanvasObject {
	row := container.NewBorder(nil, nil, nil, container.NewHBox(s.folder, s.gguf, s.demo), s.name)
	buttons := container.NewHBox(s.loadB, s.cancelB)
	modelCard := widget.NewCard("Base model", "Hugging Face id, local folder, GGUF file (F32, F16, BF16 or Q8_0) or the built-in demo",
		container.NewVBox(s.known, row, buttons, s.progress, s.status))
	summaryCard := widget.NewCard("Summary", "", s.summary)
	estimateCard := widget.NewCard("Pre-flight estimate", "", s.estimate)
	return container.NewVScroll(container.NewVBox(modelCard, summaryCard, estimateCard))
}

// fillKnown lists the known models with the memory the current config
// would need, marking those that will not fit this machine.
func (s *modelScreen) fillKnown() {
	var opts []string
	for _, k := range engine.KnownModels(s.u.st.cfg) {
		f32, bf16, q8 := k.Memory["float32"], k.Memory["bfloat16"], k.Memory["q8_0"]
		line := fmt.Sprintf("%s — %s download, %s / %s / %s", k.ID, model.ByteSize(k.DownloadBytes), model.ByteSize(f32.Total()), model.ByteSize(bf16.Total()), model.ByteSize(q8.Total()))
		switch {
		case !k.Fits("q8_0"):
			line += " — will not fit this machine"
		case !k.Fits("bfloat16"):
			line += " — fits in q8_0 only"
		case !k.Fits("float32"):
			line += " — fits in bfloat16 or q8_0"
		}
		opts = append(opts, line)
	}
	s.known.Options = opts
	s.known.Refresh()
}

// load shows the config's model name.
func (s *modelScreen) load() {
	if s.name.Text != s.u.st.cfg.Model.Name {
		s.name.SetText(s.u.st.cfg.Model.Name)
	}
}

func (s *modelScreen) refresh() {
	loading := s.cancelFn != nil
	idle := s.u.st.idle()
	setEnabled(s.loadB, idle)
	setEnabled(s.folder, idle)
	setEnabled(s.gguf, idle)
	setEnabled(s.demo, idle)
	s.cancelB.Hidden = !loading
	s.cancelB.Refresh()
}

func (s *modelScreen) pickFolder() {
	d := dialog.NewFolderOpen(func(l fyne.ListableURI, err error) {
		if err != nil || l == nil {
			return
		}
		s.name.SetText(uriPath(l))
	}, s.u.win)
	d.Resize(fyne.NewSize(900, 600))
	d.Show()
}

// pickGGUF picks a GGUF model file (what llama.cpp and Ollama run, or
// qwentune export --format gguf writes) as the base model.
func (s *modelScreen) pickGGUF() {
	d := dialog.NewFileOpen(func(r fyne.URIReadCloser, err error) {
		if err != nil || r == nil {
			return
		}
		r.Close()
		s.name.SetText(uriPath(r.URI()))
	}, s.u.win)
	d.SetFilter(storage.NewExtensionFileFilter([]string{".gguf"}))
	d.Resize(fyne.NewSize(900, 600))
	d.Show()
}

// startOnDemoIfNothingDownloaded is the first-start default: when the
// configured model is neither a folder nor in the Hugging Face cache, the
// built-in demo model is loaded so every screen works at once, and the
// status says how to get the configured one.
func (s *modelScreen) startOnDemoIfNothingDownloaded() {
	want := s.u.st.resolved().Model
	if engine.OnDisk(want.Name, want.Revision) {
		return
	}
	s.afterLoad = want.Name + " is not downloaded yet, so QwenTune started on the built-in demo model. " +
		"Type " + want.Name + " (or another id) and press Load model to download it."
	log.Printf("QwenTune: %s is not on this machine; starting on the built-in demo model", want.Name)
	s.name.SetText(engine.DemoName)
	s.Load()
}

// Load opens the model named in the entry on a goroutine, showing download
// progress; offline without the model it offers the demo.
func (s *modelScreen) Load() {
	cfg := s.u.st.resolved().Model
	name := cfg.Name
	if name == "" {
		s.u.showError(errors.New("no model given"), "Type a Hugging Face id such as Qwen/Qwen2-0.5B-Instruct, pick a folder, or press Use demo.")
		return
	}
	if !s.u.startJob("loading the model") {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.cancelFn = cancel
	s.progress.SetValue(0)
	s.progress.Show()
	s.status.SetText("Loading " + name + "…")
	s.refresh()
	t := throttle{interval: 100 * time.Millisecond}
	onEvent := func(ev progress.Event) {
		runOnUI(func() { t.do(func() { s.showProgress(ev.Bytes) }) })
	}
	go func() {
		sess, err := engine.Open(ctx, cfg.Name, cfg.Revision, cfg.Dtype, onEvent)
		if err == nil {
			_, err = sess.SetComputeDtype(cfg.ComputeDtype)
		}
		runOnUI(func() {
			cancel()
			s.cancelFn = nil
			s.progress.Hide()
			s.u.st.endJob()
			s.loaded(name, sess, err)
		})
	}()
}

func (s *modelScreen) showProgress(p *progress.Bytes) {
	if s.cancelFn == nil {
		return // a late update after the load ended
	}
	if p.Total > 0 {
		s.progress.SetValue(float64(p.Done) / float64(p.Total))
	}
	s.status.SetText(fmt.Sprintf("Downloading %s (file %d of %d)\n%s of %s · %s/s · %s left",
		p.What, p.Index, p.Files, model.ByteSize(p.Done), model.ByteSize(p.Total), model.ByteSize(int64(p.Speed)), duration(p.ETA)))
}

func (s *modelScreen) loaded(name string, sess *engine.Session, err error) {
	switch {
	case isCancel(err):
		s.status.SetText("Loading cancelled. The part already downloaded is kept; Load resumes it.")
		return
	case errors.Is(err, engine.ErrModelUnavailable):
		s.status.SetText("The model is not on this machine and the Hub cannot be reached.")
		dialog.ShowConfirm("Model unavailable offline",
			err.Error()+"\n\nSwitch to the built-in demo model now?", func(ok bool) {
				if ok {
					s.name.SetText(engine.DemoName)
					s.Load()
				}
			}, s.u.win)
		return
	case err != nil:
		s.status.SetText("Loading failed.")
		s.u.showError(err, "Check the model id, folder (it needs config.json, tokenizer files and *.safetensors) or GGUF file (a qwen2 or qwen3 model in F32, F16, BF16 or Q8_0), or use the demo model.")
		return
	}
	sum := sess.Summary()
	s.status.SetText("Loaded " + name + ".")
	if s.afterLoad != "" {
		s.status.SetText(s.afterLoad)
		s.afterLoad = ""
	}
	s.summary.Items = nil
	add := func(k, v string) { s.summary.Append(k, widget.NewLabel(v)) }
	if engine.IsGGUFModel(sum.Dir) {
		add("GGUF file", sum.Dir)
	} else {
		add("Folder", sum.Dir)
	}
	add("Parameters", fmt.Sprintf("%s (%d)", humanCount(sum.Params), sum.Params))
	add("Weights dtype", sum.DType)
	add("Compute dtype", sum.ComputeDType+" ("+sum.ComputeKernels+")")
	add("Memory for weights", model.ByteSize(sum.WeightBytes))
	add("Context length", fmt.Sprintf("%d tokens", sum.ContextLength))
	add("Layers · hidden", fmt.Sprintf("%d · %d", sum.Layers, sum.Hidden))
	add("Attention heads", fmt.Sprintf("%d (key/value %d)", sum.Heads, sum.KVHeads))
	add("Vocabulary", fmt.Sprintf("%d tokens", sum.Vocab))
	s.summary.Refresh()
	s.u.st.setSession(sess)
	s.u.st.setEstimate("Estimated from the config: " + sess.EstimateMemory(s.u.st.resolved()).String() +
		". Train measures memory and time on a few real steps first.")
}

// cancel stops a running load.
func (s *modelScreen) cancel() {
	if s.cancelFn != nil {
		s.cancelFn()
	}
}

// humanCount formats a parameter count: 1.54B, 494M, 12.3K.
func humanCount(n int64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.2fB", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.1fM", float64(n)/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%.1fK", float64(n)/1e3)
	}
	return fmt.Sprint(n)
}

// setEnabled enables or disables a widget.
func setEnabled(w fyne.Disableable, on bool) {
	if on {
		w.Enable()
	} else {
		w.Disable()
	}
}
