package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"qwentune/engine"
)

func init() {
	register(&command{name: "export", summary: "export an adapter or the merged model (PEFT, Hugging Face, GGUF for llama.cpp/Ollama) or a GPU training job",
		usage: "--model DIR --format peft|merged|gguf|gguf-adapter [--adapter DIR] [--dtype f32|f16|bf16|q8_0] [--max-shard-size 5GB] --out DIR [--overwrite]\n" +
			"       qwentune export --format hf-job [--config config.yml] [--set key=value ...] [--gpus N] --out DIR",
		example: `qwentune export --model Qwen/Qwen2-1.5B --adapter ./qwen_finetune --format gguf --dtype q8_0 --out ./gguf
qwentune export --model Qwen/Qwen2-1.5B --adapter ./qwen_finetune --format merged --dtype bf16 --out ./merged
qwentune export --model Qwen/Qwen2-1.5B --adapter ./qwen_finetune --format gguf-adapter --out ./gguf
qwentune export --model Qwen/Qwen2-1.5B --adapter ./old_adapter --format peft --out ./clean_adapter
qwentune export --format hf-job --config config.yml --out ./gpu_job`,
		run: runExport})
}

func runExport(ctx context.Context, fs *flag.FlagSet, args []string) error {
	load := configFlags(fs)
	modelName := fs.String("model", "", "base model: folder, Hub id or demo (default: model.name of the config)")
	adapter := fs.String("adapter", "", "PEFT adapter folder (required for peft and gguf-adapter; merged and gguf without it export the base model)")
	format := fs.String("format", "", "what to write: "+strings.Join(engine.ExportFormats, ", "))
	dtype := fs.String("dtype", "", "storage: f32, f16, bf16 (merged: default the base's torch_dtype) or q8_0 (gguf; default f16); gguf-adapter default f32")
	shard := fs.String("max-shard-size", "5GB", "merged: largest safetensors shard, like save_pretrained's max_shard_size")
	out := fs.String("out", "", "output folder")
	gpus := fs.Int("gpus", 2, "hf-job: number of GPUs in accelerate_config.yaml")
	overwrite := fs.Bool("overwrite", false, "write into --out even if it is not empty (files of the same name are replaced)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q", fs.Arg(0))
	}
	known := false
	for _, f := range engine.ExportFormats {
		known = known || f == *format
	}
	switch {
	case !known:
		return usagef("--format must be one of %s", strings.Join(engine.ExportFormats, ", "))
	case *out == "":
		return usagef("--out is required")
	case (*format == engine.ExportPEFT || *format == engine.ExportGGUFAdapter) && *adapter == "":
		return usagef("--format %s needs --adapter", *format)
	}
	if !*overwrite {
		if entries, err := os.ReadDir(*out); err == nil && len(entries) > 0 {
			return fmt.Errorf("--out %s is not empty (it holds %s): choose an empty or new folder, or pass --overwrite to replace what is there", *out, entries[0].Name())
		}
	}
	cfg, _, err := load()
	if err != nil && (*format == engine.ExportHFJob || *modelName == "") {
		return err
	}
	name := *modelName
	if name == "" {
		name = cfg.Model.Name
	}
	cfg.Model.Name = name
	bar := newProgressBar(os.Stderr)
	defer bar.finish()
	show := &printer{bar: bar}
	var s *engine.Session
	if engine.NeedsWeights(*format) {
		// Everything merges in float32, except bf16 output of a checkpoint stored in bfloat16, which is held
		// as it is stored (half the memory, the same result). A float32 checkpoint held in bfloat16 would be
		// rounded twice, bf16(bf16(W) + ΔW), where llama.cpp's converter of the merged model rounds once.
		storage := "float32"
		if strings.EqualFold(*dtype, "bf16") || strings.EqualFold(*dtype, "bfloat16") {
			if ws, err := engine.OpenWithoutWeights(ctx, name, cfg.Model.Revision); err == nil && ws.Config.TorchDType == "bfloat16" {
				storage = "bfloat16"
			}
		}
		s, err = engine.Open(ctx, name, cfg.Model.Revision, storage, show.event)
	} else {
		s, err = engine.OpenWithoutWeights(ctx, name, cfg.Model.Revision)
	}
	bar.finish()
	if err != nil {
		return err
	}
	o := engine.ExportOptions{Format: *format, DType: *dtype, OutDir: *out, AdapterDir: *adapter, MaxShardSize: *shard, Config: &cfg, GPUs: *gpus}
	err = s.Export(ctx, o, show.event)
	bar.finish()
	if err != nil {
		return err
	}
	abs, _ := filepath.Abs(*out)
	switch *format {
	case engine.ExportGGUF:
		fmt.Fprintf(stdout, "wrote %s and %s\nrun it with Ollama: cd %s && ollama create my-finetune -f %s\n",
			filepath.Join(abs, engine.GGUFModelFile), filepath.Join(abs, engine.ModelfileName), abs, engine.ModelfileName)
	case engine.ExportGGUFAdapter:
		fmt.Fprintf(stdout, "wrote %s\nuse it with llama.cpp: llama-cli -m BASE.gguf --lora %s\n", filepath.Join(abs, engine.GGUFAdapterFile), filepath.Join(abs, engine.GGUFAdapterFile))
	case engine.ExportHFJob:
		fmt.Fprintf(stdout, "wrote the job to %s\nlaunch it on the GPU machine: accelerate launch --config_file accelerate_config.yaml train.py (see README.md)\n", abs)
	default:
		fmt.Fprintf(stdout, "wrote %s\n", abs)
	}
	return nil
}
