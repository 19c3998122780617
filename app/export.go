package app

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/widget"

	"qwentune/engine"
	"qwentune/engine/progress"
	"qwentune/model"
)

// exportFormats describes each format for people, in engine.ExportFormats order.
var exportFormats = map[string]string{
	engine.ExportPEFT:        "PEFT adapter folder: Python's PeftModel.from_pretrained loads it as-is.",
	engine.ExportMerged:      "Merged Hugging Face model: the adapter folded into the weights, loads with AutoModelForCausalLM.",
	engine.ExportGGUF:        "GGUF model for llama.cpp and Ollama, with a Modelfile (ollama create -f Modelfile).",
	engine.ExportGGUFAdapter: "GGUF LoRA adapter for llama.cpp (--lora adapter.gguf) on top of the base model's GGUF.",
	engine.ExportHFJob:       "A ready Hugging Face Trainer job (script, data, accelerate config) for a GPU machine.",
}

// exportDTypes are the storage choices of each format ("" is the default).
var exportDTypes = map[string][]string{
	engine.ExportMerged:      {"f32", "f16", "bf16"},
	engine.ExportGGUF:        {"f16", "q8_0", "bf16", "f32"},
	engine.ExportGGUFAdapter: {"f32", "f16", "bf16"},
}

// exportScreen writes the fine-tune in the format other tools load.
type exportScreen struct {
	u *UI

	form     *widget.Form
	format   *widget.RadioGroup
	about    *widget.Label
	dtype    *widget.Select
	adapter  *widget.Entry
	out      *widget.Entry
	gpus     *widget.Entry
	exportB  *widget.Button
	cancelB  *widget.Button
	progress *widget.ProgressBar
	status   *widget.Label

	outEdited bool
	cancelFn  context.CancelFunc
}

func newExportScreen(u *UI) *exportScreen {
	s := &exportScreen{u: u}
	s.about = widget.NewLabel("")
	s.about.Wrapping = fyne.TextWrapWord
	s.dtype = widget.NewSelect(nil, nil)
	s.adapter = widget.NewEntry()
	s.adapter.SetPlaceHolder("PEFT adapter folder (default: training.output_dir)")
	s.out = widget.NewEntry()
	s.out.OnChanged = func(string) { s.outEdited = true }
	s.gpus = widget.NewEntry()
	s.gpus.SetText("2")
	s.gpus.Validator = func(v string) error {
		if n, err := strconv.Atoi(v); err != nil || n < 1 {
			return errors.New("must be a positive integer")
		}
		return nil
	}
	s.format = widget.NewRadioGroup(engine.ExportFormats, s.formatChanged)
	s.format.Horizontal = true
	s.exportB = widget.NewButton("Export", s.Export)
	s.exportB.Importance = widget.HighImportance
	s.cancelB = widget.NewButton("Cancel", s.cancel)
	s.progress = widget.NewProgressBar()
	s.status = widget.NewLabel("")
	s.status.Wrapping = fyne.TextWrapWord
	s.format.SetSelected(engine.ExportPEFT)
	u.st.observe(s.changed)
	return s
}

// changed follows the state: the default folders and the buttons.
func (s *exportScreen) changed(c change) {
	if c.config || c.adapter {
		s.load()
	}
	s.refresh()
}

func (s *exportScreen) content() fyne.CanvasObject {
	pickAdapter := widget.NewButton("…", func() { s.pickFolder(s.adapter) })
	pickOut := widget.NewButton("…", func() { s.pickFolder(s.out) })
	s.form = widget.NewForm(
		widget.NewFormItem("Format", s.format),
		widget.NewFormItem("", s.about),
		widget.NewFormItem("Data type", s.dtype),
		widget.NewFormItem("Adapter", container.NewBorder(nil, nil, nil, pickAdapter, s.adapter)),
		widget.NewFormItem("Output folder", container.NewBorder(nil, nil, nil, pickOut, s.out)),
		widget.NewFormItem("GPUs (hf-job)", s.gpus),
	)
	buttons := container.NewHBox(s.exportB, s.cancelB)
	card := widget.NewCard("Export", "Leave freely: files Python, llama.cpp and Ollama load as they are",
		container.NewVBox(s.form, buttons, s.progress, s.status))
	return container.NewVScroll(container.NewPadded(card))
}

func (s *exportScreen) formatChanged(f string) {
	s.about.SetText(exportFormats[f])
	if opts, ok := exportDTypes[f]; ok {
		s.dtype.Options = opts
		s.dtype.SetSelected(opts[0])
		s.dtype.Enable()
	} else {
		s.dtype.Options = nil
		s.dtype.ClearSelected()
		s.dtype.Disable()
	}
	if f == engine.ExportHFJob {
		s.gpus.Enable()
	} else {
		s.gpus.Disable()
	}
	if !s.outEdited {
		s.defaultOut()
	}
	if s.form != nil {
		s.form.Refresh() // the labels follow their widgets' enabled state
	}
}

// defaultOut suggests output_dir/export-<format>.
func (s *exportScreen) defaultOut() {
	if s.u == nil || s.format == nil {
		return
	}
	s.out.SetText(filepath.Join(s.u.st.resolved().Training.OutputDir, "export-"+s.format.Selected))
	s.outEdited = false
}

func (s *exportScreen) load() {
	s.adapter.SetPlaceHolder(s.u.st.adapterWhere())
	if !s.outEdited {
		s.defaultOut()
	}
}

func (s *exportScreen) refresh() {
	busy := s.cancelFn != nil
	setEnabled(s.exportB, s.u.st.sess != nil && s.u.st.idle())
	s.cancelB.Hidden = !busy
	s.cancelB.Refresh()
	if !busy && s.u.st.sess == nil {
		s.status.SetText("Load the base model first (Model & config tab).")
	}
}

func (s *exportScreen) pickFolder(e *widget.Entry) {
	d := dialog.NewFolderOpen(func(l fyne.ListableURI, err error) {
		if err == nil && l != nil {
			e.SetText(uriPath(l))
		}
	}, s.u.win)
	d.Resize(fyne.NewSize(900, 600))
	d.Show()
}

// Export writes the chosen format on a goroutine with progress.
func (s *exportScreen) Export() {
	sess := s.u.st.sess
	if sess == nil {
		return
	}
	cfg := s.u.st.resolved()
	o := engine.ExportOptions{Format: s.format.Selected, DType: s.dtype.Selected, OutDir: s.out.Text, Config: &cfg}
	o.AdapterDir = s.adapter.Text
	if o.AdapterDir == "" {
		o.AdapterDir = s.u.st.adapterWhere()
	}
	if !engine.HasAdapter(o.AdapterDir) {
		if o.Format == engine.ExportPEFT || o.Format == engine.ExportGGUFAdapter {
			s.u.showError(errors.New("no adapter in "+o.AdapterDir),
				"Train first (Train tab), or pick the adapter folder to export.")
			return
		}
		o.AdapterDir = ""
	}
	if o.Format == engine.ExportHFJob {
		if err := s.gpus.Validate(); err != nil {
			s.u.showError(err, "Set the number of GPUs of the job.")
			return
		}
		o.GPUs, _ = strconv.Atoi(s.gpus.Text)
	}
	if o.OutDir == "" {
		s.u.showError(errors.New("no output folder"), "Pick the folder to write into.")
		return
	}
	if !s.u.startJob("export") {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.cancelFn = cancel
	s.progress.SetValue(0)
	what := "base model"
	if o.AdapterDir != "" {
		what = "adapter " + o.AdapterDir
	}
	s.status.SetText(fmt.Sprintf("Exporting %s as %s…", what, o.Format))
	s.refresh()
	start := time.Now()
	t := throttle{interval: 100 * time.Millisecond}
	go func() {
		err := sess.Export(ctx, o, func(ev progress.Event) {
			done, total, file := ev.Bytes.Done, ev.Bytes.Total, ev.Bytes.What
			runOnUI(func() {
				t.do(func() {
					if s.cancelFn == nil {
						return
					}
					if total > 0 {
						s.progress.SetValue(float64(done) / float64(total))
					}
					s.status.SetText(fmt.Sprintf("Writing %s: %s of %s", file, model.ByteSize(done), model.ByteSize(total)))
				})
			})
		})
		runOnUI(func() {
			cancel()
			s.cancelFn = nil
			s.u.st.endJob()
			switch {
			case isCancel(err):
				s.status.SetText("Export cancelled; no partial file was left behind.")
			case err != nil:
				s.status.SetText("Export failed.")
				s.u.showError(err, "Check the adapter and output folders, or pick another format or data type.")
			default:
				s.progress.SetValue(1)
				s.status.SetText(fmt.Sprintf("Exported %s as %s into %s in %s.", what, o.Format, o.OutDir, duration(time.Since(start))))
			}
			s.refresh()
		})
	}()
}

// cancel stops a running export.
func (s *exportScreen) cancel() {
	if s.cancelFn != nil {
		s.cancelFn()
	}
}
