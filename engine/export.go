package engine

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"qwentune/engine/config"
	"qwentune/engine/dataset"
	"qwentune/engine/formats"
	"qwentune/engine/nn"
	"qwentune/engine/progress"
	"qwentune/internal/atomicfile"
	"qwentune/model/peft"
	"qwentune/model/tokenizer"
)

// Export formats (ExportOptions.Format).
const (
	// ExportPEFT writes a clean PEFT adapter folder (a legacy
	// adapter_model.bin becomes adapter_model.safetensors).
	ExportPEFT = "peft"
	// ExportMerged writes the model with the adapter merged in
	// (W' = W + scale·B·A) as a Hugging Face folder.
	ExportMerged = "merged"
	// ExportGGUF writes the merged model as one GGUF file plus an Ollama
	// Modelfile.
	ExportGGUF = "gguf"
	// ExportGGUFAdapter writes the adapter alone as a llama.cpp LoRA GGUF.
	ExportGGUFAdapter = "gguf-adapter"
	// ExportHFJob writes a Hugging Face Trainer job for a GPU machine.
	ExportHFJob = "hf-job"
)

// ExportFormats lists the formats in the order the app offers them.
var ExportFormats = []string{ExportPEFT, ExportMerged, ExportGGUF, ExportGGUFAdapter, ExportHFJob}

// The file names Export writes into OutDir for the GGUF formats.
const (
	GGUFModelFile   = "model.gguf"
	GGUFAdapterFile = "adapter.gguf"
	ModelfileName   = "Modelfile"
)

// ExportOptions say what Session.Export writes.
type ExportOptions struct {
	// Format is one of ExportFormats.
	Format string
	// DType is the storage: f32, f16 or bf16 for merged (default: the base
	// model's torch_dtype), f32, f16, bf16 or q8_0 for gguf (default f16),
	// f32, f16 or bf16 for gguf-adapter (default f32). peft and hf-job
	// ignore it.
	DType string
	// OutDir is the folder written (created if needed).
	OutDir string
	// AdapterDir is the PEFT adapter folder: required for peft and
	// gguf-adapter; for merged and gguf, empty exports the base model.
	AdapterDir string
	// MaxShardSize splits a merged folder like save_pretrained's
	// max_shard_size (default "5GB").
	MaxShardSize string
	// Config is config.yml: required for hf-job (dataset, LoRA, schedule);
	// for gguf its chat.system_prompt becomes the Modelfile's SYSTEM.
	Config *config.Config
	// GPUs is the number of processes in the hf-job's accelerate config
	// (default 2).
	GPUs int
}

// Export writes the session's model, an adapter for it, or a training job,
// as o says. on receives Export events with the bytes written (the total is
// known up front); cancelling ctx stops between tensor row blocks and leaves
// no partial file.
func (s *Session) Export(ctx context.Context, o ExportOptions, on progress.Func) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if o.OutDir == "" {
		return fmt.Errorf("export: no output folder")
	}
	if NeedsWeights(o.Format) && s.Model == nil {
		return fmt.Errorf("export: %s needs the model's weights; open the session with Open, not OpenWithoutWeights", o.Format)
	}
	if err := os.MkdirAll(o.OutDir, 0o755); err != nil {
		return err
	}
	switch o.Format {
	case ExportPEFT:
		return s.exportPEFT(o, on)
	case ExportMerged:
		enc, err := s.encoding(o.DType, strings.ToLower(s.Config.TorchDType), "f32")
		if err != nil {
			return err
		}
		if enc == formats.Q8_0 {
			return fmt.Errorf("export: merged: a Hugging Face folder stores f32, f16 or bf16; use --format gguf for q8_0")
		}
		shard := o.MaxShardSize
		if shard == "" {
			shard = formats.DefaultMaxShardSize
		}
		limit, err := formats.ParseSize(shard)
		if err != nil {
			return fmt.Errorf("export: max shard size: %w", err)
		}
		a, err := s.optionalAdapter(o.AdapterDir)
		if err != nil {
			return err
		}
		return formats.WriteHF(ctx, o.OutDir, s.Model, s.Gen, s.Tokenizer, formats.HFOptions{DType: enc, MaxShardBytes: limit, Adapter: a}, on)
	case ExportGGUF:
		enc, err := s.encoding(o.DType, "f16", "")
		if err != nil {
			return err
		}
		a, err := s.optionalAdapter(o.AdapterDir)
		if err != nil {
			return err
		}
		name := filepath.Base(filepath.Clean(s.Name))
		if IsGGUFModel(name) {
			name = strings.TrimSuffix(name, filepath.Ext(name))
		}
		if err := formats.WriteGGUF(ctx, filepath.Join(o.OutDir, GGUFModelFile), s.Model, s.Tokenizer,
			formats.GGUFOptions{DType: enc, Name: name, Adapter: a}, on); err != nil {
			return err
		}
		mo := formats.ModelfileOptions{GGUF: GGUFModelFile, Thinking: s.Tokenizer.SupportsThinking()}
		if o.AdapterDir != "" {
			mo.BaseGGUF, mo.AdapterGGUF = "base.gguf", GGUFAdapterFile
		}
		if o.Config != nil {
			mo.System = o.Config.Chat.SystemPrompt
		}
		if mo.System == "" {
			// What the model's own template adds (Qwen2.5's "You are
			// Qwen, …"; nothing for Qwen3).
			mo.System = s.Tokenizer.DefaultSystemPrompt()
		}
		return atomicfile.WriteFile(filepath.Join(o.OutDir, ModelfileName), []byte(formats.Modelfile(mo)))
	case ExportGGUFAdapter:
		if o.AdapterDir == "" {
			return fmt.Errorf("export: gguf-adapter needs an adapter folder")
		}
		enc, err := s.encoding(o.DType, "f32", "")
		if err != nil {
			return err
		}
		pa, err := peft.Load(o.AdapterDir)
		if err != nil {
			return err
		}
		return formats.WriteGGUFAdapter(ctx, filepath.Join(o.OutDir, GGUFAdapterFile), pa, s.Config,
			formats.AdapterOptions{DType: enc, Name: filepath.Base(filepath.Clean(o.AdapterDir))}, on)
	case ExportHFJob:
		if o.Config == nil {
			return fmt.Errorf("export: hf-job needs the config (dataset, LoRA and training settings)")
		}
		if IsGGUFModel(o.Config.Model.Name) {
			return fmt.Errorf("export: hf-job trains with transformers on a Hugging Face model, and model.name %s is a GGUF file: "+
				"set model.name to the Hub id it was made from, or to a folder written by qwentune export --format merged", o.Config.Model.Name)
		}
		return WriteHFJob(ctx, *o.Config, s.Tokenizer, o.OutDir, o.GPUs, on)
	}
	return fmt.Errorf("export: format %q: want one of %s", o.Format, strings.Join(ExportFormats, ", "))
}

// WriteHFJob renders cfg's training set with tok and writes a Hugging Face
// Trainer job into outDir (see formats.WriteHFJob); it needs no model
// weights. gpus ≤ 0 means 2.
func WriteHFJob(ctx context.Context, cfg config.Config, tok *tokenizer.Tokenizer, outDir string, gpus int, on progress.Func) error {
	ex, err := dataset.Load(cfg.Dataset.TrainFile, tok, dataset.OptionsFrom(cfg.Dataset))
	if err != nil {
		return err
	}
	return formats.WriteHFJob(ctx, outDir, formats.HFJob{Config: cfg, Examples: ex, PadID: tok.Pad(), GPUs: gpus}, on)
}

// encoding parses dtype, or def when it is empty ("" def: use fallback).
func (s *Session) encoding(dtype, def, fallback string) (formats.Encoding, error) {
	if dtype == "" {
		dtype = def
	}
	if dtype == "" {
		dtype = fallback
	}
	e, err := formats.ParseEncoding(dtype)
	if err != nil {
		return 0, fmt.Errorf("export: %w", err)
	}
	return e, nil
}

// optionalAdapter loads the adapter in dir, or returns nil when dir is
// empty. The exporters merge it row by row while writing, so the merged
// model is never held next to the base.
func (s *Session) optionalAdapter(dir string) (*nn.Adapter, error) {
	if dir == "" {
		return nil, nil
	}
	return s.LoadAdapter(dir)
}

// exportPEFT writes the adapter in o.AdapterDir, checked against this
// model, as a clean PEFT folder with safetensors weights and the tokenizer.
func (s *Session) exportPEFT(o ExportOptions, on progress.Func) error {
	if o.AdapterDir == "" {
		return fmt.Errorf("export: peft needs an adapter folder")
	}
	read, a, err := s.loadAdapter(o.AdapterDir)
	if err != nil {
		return err
	}
	base := read.Config.BaseModelNameOrPath
	if base == "" {
		base = s.Name
	}
	if err := peft.Save(o.OutDir, a.ToPEFT(base)); err != nil {
		return err
	}
	n := a.NumParams() * 4
	on.Emit(progress.Event{Kind: progress.Export, Bytes: &progress.Bytes{What: peft.WeightsName, Done: n, Total: n}})
	return s.Tokenizer.SaveFiles(o.OutDir)
}

// OpenWithoutWeights resolves name and loads only config.json,
// generation_config.json and the tokenizer: a Session whose Model is nil,
// enough to Export the formats that need no base weights (peft,
// gguf-adapter, hf-job) without reading gigabytes. Any other use of the
// returned Session is a programmer error.
func OpenWithoutWeights(ctx context.Context, name, revision string) (*Session, error) {
	dir, err := ResolveModel(ctx, name, revision, nil)
	if err != nil {
		return nil, err
	}
	return openFiles(dir, name)
}

// NeedsWeights reports whether an export format reads the base model's
// weights (merged and gguf do; peft, gguf-adapter and hf-job do not).
func NeedsWeights(format string) bool {
	return format == ExportMerged || format == ExportGGUF
}
