package formats

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"text/template"

	"qwentune/engine/config"
	"qwentune/engine/dataset"
	"qwentune/internal/atomicfile"
)

// HFJob is a fine-tuning run to hand to a GPU machine: the Hugging Face
// Trainer with PEFT, on exactly the token ids and loss mask QwenTune
// computed.
type HFJob struct {
	// Config is the run's config.yml (LoRA, schedule, batch, seed …).
	Config config.Config
	// Examples are the tokenized training rows (dataset.Load).
	Examples []dataset.Example
	// PadID pads input_ids in the collator (labels are padded with -100).
	PadID int
	// BaseModel is what train.py passes to from_pretrained: a Hub id or a
	// folder on the GPU machine (default Config.Model.Name).
	BaseModel string
	// GPUs is accelerate's num_processes (default 2).
	GPUs int
}

// The file names of a job folder.
const (
	JobDataFile       = "train.jsonl"
	JobScriptFile     = "train.py"
	JobAccelerateFile = "accelerate_config.yaml"
	JobReadmeFile     = "README.md"
	JobConfigFile     = "run_config.yml"
	JobOrderFile      = "order.json"
	JobRequireFile    = "requirements.txt"
)

// JobRequirements are the Python packages the job was run against in
// QwenTune's parity suite (parity/train_test.go runs it with the pinned
// reference venv, tools/python/requirements.txt, and a test checks the two
// agree). On a GPU machine whose driver wants another CUDA build of torch,
// install that torch instead; transformers must be ≥ 4.56 for the dtype
// argument train.py passes.
var JobRequirements = []string{"torch==2.15.0", "transformers==5.25.0", "peft==0.21.2", "accelerate==1.16.0"}

// JobEpochs is the number of epochs whose row order order.json lists: the
// epochs `qwentune train` runs over rows examples with cfg (ceil(epochs), or
// as many as max_steps needs), as the trainer's plan counts them.
func JobEpochs(cfg config.Config, rows int) int {
	t := cfg.Training
	batches := (rows + max(1, t.BatchSize) - 1) / max(1, t.BatchSize)
	accum := max(1, t.GradientAccumulationSteps)
	perEpoch := (batches + accum - 1) / accum
	if t.MaxSteps > 0 {
		return max(1, (t.MaxSteps+perEpoch-1)/perEpoch)
	}
	return max(1, t.Epochs)
}

// WriteHFJob writes a job folder: train.jsonl ({"input_ids", "labels"} per
// row, labels -100 where the loss does not count), order.json (the row order
// of every epoch of `qwentune train` with this config, dataset.Order, which
// train.py follows with --qwentune-order), requirements.txt (the versions it
// was run against), train.py (transformers
// Trainer + PEFT with the same LoRA config, schedule, learning rate, epochs,
// accumulation and seed, a collator that pads input_ids with the pad id and
// labels with -100, saving the adapter), accelerate_config.yaml for several
// GPUs, README.md on launching it and bringing the adapter back, and the
// resolved config.yml as run_config.yml. Progress counts the bytes of
// train.jsonl.
func WriteHFJob(ctx context.Context, dir string, j HFJob, progress Progress) error {
	if len(j.Examples) == 0 {
		return fmt.Errorf("export: hf-job: the dataset has no rows")
	}
	if j.BaseModel == "" {
		j.BaseModel = j.Config.Model.Name
	}
	if j.GPUs <= 0 {
		j.GPUs = 2
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for _, e := range j.Examples {
		if err := enc.Encode(struct {
			InputIDs []int `json:"input_ids"`
			Labels   []int `json:"labels"`
		}{e.IDs, e.Labels}); err != nil {
			return err
		}
	}
	m := newMeter(ctx, int64(buf.Len()), progress)
	if err := m.add(int64(buf.Len()), JobDataFile); err != nil {
		return err
	}
	if err := atomicfile.WriteFile(filepath.Join(dir, JobDataFile), buf.Bytes()); err != nil {
		return err
	}
	order := struct {
		Seed      int     `json:"seed"`
		BatchSize int     `json:"batch_size"`
		Epochs    [][]int `json:"epochs"`
	}{Seed: j.Config.Training.Seed, BatchSize: j.Config.Training.BatchSize}
	for e := range JobEpochs(j.Config, len(j.Examples)) {
		order.Epochs = append(order.Epochs, dataset.Order(len(j.Examples), int64(j.Config.Training.Seed), e))
	}
	ob, err := json.Marshal(order)
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(filepath.Join(dir, JobOrderFile), append(ob, '\n')); err != nil {
		return err
	}
	req := "# The versions this job was run against (QwenTune's parity suite). On a GPU machine whose driver needs\n" +
		"# another CUDA build of torch, install that torch first; transformers must be >= 4.56.\n"
	for _, r := range JobRequirements {
		req += r + "\n"
	}
	if err := atomicfile.WriteFile(filepath.Join(dir, JobRequireFile), []byte(req)); err != nil {
		return err
	}
	resolved, err := j.Config.Marshal()
	if err != nil {
		return err
	}
	files := []struct {
		name string
		tmpl *template.Template
	}{{JobScriptFile, trainPy}, {JobAccelerateFile, accelerateYAML}, {JobReadmeFile, jobReadme}}
	vals := jobValues(j)
	for _, f := range files {
		var out bytes.Buffer
		if err := f.tmpl.Execute(&out, vals); err != nil {
			return fmt.Errorf("export: %s: %w", f.name, err)
		}
		if err := atomicfile.WriteFile(filepath.Join(dir, f.name), out.Bytes()); err != nil {
			return err
		}
	}
	return atomicfile.WriteFile(filepath.Join(dir, JobConfigFile), resolved)
}

// jobValues are the template values, already written as Python literals
// where they go into train.py.
func jobValues(j HFJob) map[string]any {
	c, t := j.Config, j.Config.Training
	py := func(v any) string {
		switch x := v.(type) {
		case bool:
			if x {
				return "True"
			}
			return "False"
		case float64:
			s := strconv.FormatFloat(x, 'g', -1, 64)
			if _, err := strconv.Atoi(s); err == nil {
				s += ".0"
			}
			return s
		}
		b, _ := json.Marshal(v)
		return string(b)
	}
	targets := any(c.LoRA.TargetModules)
	if len(c.LoRA.TargetModules) == 1 && c.LoRA.TargetModules[0] == config.AllLinear {
		targets = config.AllLinear
	}
	maxLen := c.Dataset.MaxLength
	for _, e := range j.Examples {
		maxLen = max(maxLen, len(e.IDs))
	}
	return map[string]any{
		"BaseModel": py(j.BaseModel), "BaseModelText": j.BaseModel,
		"UseLoRA": py(t.Mode != "full"), "Mode": t.Mode,
		"R": py(c.LoRA.R), "Alpha": py(c.LoRA.Alpha), "Dropout": py(c.LoRA.Dropout),
		"Targets": py(targets), "RSLoRA": py(c.LoRA.UseRSLoRA),
		"PadID": py(j.PadID), "Padding": py(c.Dataset.Padding), "MaxLength": py(maxLen),
		"BatchSize": py(t.BatchSize), "GradAccum": py(t.GradientAccumulationSteps), "GradAccumN": t.GradientAccumulationSteps,
		"LR": py(t.LearningRate), "Scheduler": py(t.LRScheduler), "WarmupSteps": py(t.WarmupSteps),
		"WarmupRatio": py(t.WarmupRatio), "WeightDecay": py(t.WeightDecay), "Epochs": py(float64(t.Epochs)),
		"MaxSteps": py(t.MaxSteps), "MaxGradNorm": py(t.MaxGradNorm), "LoggingSteps": py(max(1, t.LoggingSteps)),
		"SaveSteps": py(t.SaveSteps), "Seed": py(t.Seed), "Recompute": py(t.Recompute),
		"BF16": py(c.Model.Dtype == "bfloat16"), "Rows": len(j.Examples),
		"OutputDir": py("output"), "GPUs": j.GPUs,
	}
}

var trainPy = template.Must(template.New("train.py").Parse(`#!/usr/bin/env python3
"""Fine-tune {{.BaseModelText}} on train.jsonl with the Hugging Face Trainer{{if eq .UseLoRA "True"}} and PEFT LoRA{{end}}.

Written by ` + "`qwentune export --format hf-job`" + `. train.jsonl holds the token ids and labels
QwenTune computed ({{.Rows}} rows; labels are -100 where the loss does not count), so this
run trains on exactly the same tokens and loss mask. Run it with
    accelerate launch --config_file accelerate_config.yaml train.py
or, on one GPU, python3 train.py. Options (python3 train.py --help): --base-model,
--output-dir, --init-adapter DIR (start from an existing adapter, like
` + "`qwentune train --init-adapter`" + `) and --qwentune-order (visit the rows in the order
` + "`qwentune train`" + ` does instead of the Trainer's own shuffling). See README.md.
Checked against the versions in requirements.txt.
"""
import argparse
import dataclasses
import json
import os

import torch
from torch.utils.data import Dataset, Sampler
from transformers import AutoModelForCausalLM, AutoTokenizer, Trainer, TrainingArguments, set_seed

HERE = os.path.dirname(os.path.abspath(__file__))
BASE_MODEL = {{.BaseModel}}
OUTPUT_DIR = os.path.join(HERE, {{.OutputDir}})
DATA_FILE = os.path.join(HERE, "train.jsonl")
ORDER_FILE = os.path.join(HERE, "order.json")

# LoRA (PEFT LoraConfig), as in config.yml.
USE_LORA = {{.UseLoRA}}
LORA_R = {{.R}}
LORA_ALPHA = {{.Alpha}}
LORA_DROPOUT = {{.Dropout}}
TARGET_MODULES = {{.Targets}}
USE_RSLORA = {{.RSLoRA}}

# Data: padding as QwenTune pads ("longest" or "max_length").
PAD_ID = {{.PadID}}
PADDING = {{.Padding}}
MAX_LENGTH = {{.MaxLength}}

# Trainer arguments. With N GPUs the effective batch is
# BATCH_SIZE * GRAD_ACCUM * N: divide GRAD_ACCUM by N to keep QwenTune's optimizer steps.
BATCH_SIZE = {{.BatchSize}}
GRAD_ACCUM = {{.GradAccum}}
LEARNING_RATE = {{.LR}}
LR_SCHEDULER = {{.Scheduler}}
WARMUP_STEPS = {{.WarmupSteps}}
WARMUP_RATIO = {{.WarmupRatio}}
WEIGHT_DECAY = {{.WeightDecay}}
EPOCHS = {{.Epochs}}
MAX_STEPS = {{.MaxSteps}}
MAX_GRAD_NORM = {{.MaxGradNorm}}
LOGGING_STEPS = {{.LoggingSteps}}
SAVE_STEPS = {{.SaveSteps}}
SEED = {{.Seed}}
GRADIENT_CHECKPOINTING = {{.Recompute}}
BF16 = {{.BF16}}


def parse_args():
    p = argparse.ArgumentParser(description="Fine-tune " + BASE_MODEL + " on train.jsonl (see README.md).")
    p.add_argument("--base-model", default=BASE_MODEL, help="Hub id or local folder of the base model (default %(default)s)")
    p.add_argument("--output-dir", default=OUTPUT_DIR, help="where the adapter and trainer_state.json go (default %(default)s)")
    p.add_argument("--init-adapter", default=None, metavar="DIR",
                   help="start LoRA from this PEFT adapter folder instead of fresh weights (like qwentune train --init-adapter)")
    p.add_argument("--qwentune-order", action="store_true",
                   help="visit the rows epoch by epoch in the order qwentune train does (order.json) instead of the Trainer's shuffling")
    return p.parse_args()


class TokenizedRows(Dataset):
    """The rows of train.jsonl: {"input_ids": [...], "labels": [...]}."""

    def __init__(self, path):
        self.rows = []
        with open(path, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                if not line.strip():
                    continue
                row = json.loads(line)
                if len(row["input_ids"]) != len(row["labels"]):
                    raise ValueError(f"{path}:{n}: input_ids and labels differ in length")
                self.rows.append(row)

    def __len__(self):
        return len(self.rows)

    def __getitem__(self, i):
        return self.rows[i]


class QwenTuneOrder(Sampler):
    """Visits the rows of epoch e in the order qwentune train visits them (order.json lists one permutation per
    epoch of the QwenTune run; later epochs, which a run on several processes can need, cycle through them).
    The Trainer calls set_epoch before every epoch."""

    def __init__(self, path, rows):
        with open(path, encoding="utf-8") as f:
            self.orders = json.load(f)["epochs"]
        for e, order in enumerate(self.orders):
            if sorted(order) != list(range(rows)):
                raise ValueError(f"{path}: epoch {e}: not a permutation of the {rows} rows of train.jsonl")
        self.epoch = 0

    def set_epoch(self, epoch):
        self.epoch = epoch

    def __iter__(self):
        return iter(self.orders[self.epoch % len(self.orders)])

    def __len__(self):
        return len(self.orders[0])


def collate(rows):
    """Pad on the right: input_ids with PAD_ID, labels with -100, attention_mask with 0."""
    width = max(len(r["input_ids"]) for r in rows)
    if PADDING == "max_length":
        width = max(width, MAX_LENGTH)
    input_ids, labels, attention_mask = [], [], []
    for r in rows:
        n = len(r["input_ids"])
        input_ids.append(r["input_ids"] + [PAD_ID] * (width - n))
        labels.append(r["labels"] + [-100] * (width - n))
        attention_mask.append([1] * n + [0] * (width - n))
    return {
        "input_ids": torch.tensor(input_ids, dtype=torch.long),
        "labels": torch.tensor(labels, dtype=torch.long),
        "attention_mask": torch.tensor(attention_mask, dtype=torch.long),
    }


def warmup_args():
    """Warmup as QwenTune counts it: WARMUP_STEPS, or ceil(WARMUP_RATIO * total steps). transformers 5 dropped
    warmup_ratio and reads a warmup_steps below 1 as that ratio; older releases still have warmup_ratio."""
    if WARMUP_STEPS > 0 or WARMUP_RATIO == 0:
        return {"warmup_steps": WARMUP_STEPS}
    if "warmup_ratio" in {f.name for f in dataclasses.fields(TrainingArguments)}:
        return {"warmup_ratio": WARMUP_RATIO}
    return {"warmup_steps": WARMUP_RATIO}


def launched_processes():
    """The number of processes accelerate launch (torchrun) started, 1 for python3 train.py."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def cpu_only():
    """True on a machine without a GPU or other accelerator torch can use."""
    acc = getattr(torch, "accelerator", None)
    return not (acc.is_available() if acc is not None else torch.cuda.is_available())


def main():
    opts = parse_args()
    set_seed(SEED)
    dtype = torch.bfloat16 if BF16 else torch.float32
    model = AutoModelForCausalLM.from_pretrained(opts.base_model, dtype=dtype)
    if USE_LORA:
        from peft import LoraConfig, PeftModel, get_peft_model

        if opts.init_adapter:
            model = PeftModel.from_pretrained(model, opts.init_adapter, is_trainable=True)
        else:
            lora = LoraConfig(
                r=LORA_R,
                lora_alpha=LORA_ALPHA,
                lora_dropout=LORA_DROPOUT,
                target_modules=TARGET_MODULES,
                use_rslora=USE_RSLORA,
                bias="none",
                task_type="CAUSAL_LM",
            )
            model = get_peft_model(model, lora)
        model.print_trainable_parameters()
        if GRADIENT_CHECKPOINTING:
            model.enable_input_require_grads()
    elif opts.init_adapter:
        raise SystemExit("--init-adapter: this job trains every weight (training.mode: full), not an adapter")
    args = TrainingArguments(
        output_dir=opts.output_dir,
        per_device_train_batch_size=BATCH_SIZE,
        gradient_accumulation_steps=GRAD_ACCUM,
        learning_rate=LEARNING_RATE,
        lr_scheduler_type=LR_SCHEDULER,
        weight_decay=WEIGHT_DECAY,
        optim="adamw_torch",
        num_train_epochs=EPOCHS,
        max_steps=MAX_STEPS,
        max_grad_norm=MAX_GRAD_NORM,
        logging_steps=LOGGING_STEPS,
        save_strategy="steps" if SAVE_STEPS > 0 else "no",
        save_steps=SAVE_STEPS if SAVE_STEPS > 0 else 500,
        seed=SEED,
        bf16=BF16,
        gradient_checkpointing=GRADIENT_CHECKPOINTING,
        remove_unused_columns=False,
        report_to="none",
        # Every trainable weight takes part in every forward: DDP need not search for unused ones each step.
        ddp_find_unused_parameters=False,
        # Several processes on a machine without GPUs join over gloo only when the Trainer is told to use the CPU;
        # otherwise each of them would silently train alone on all the rows.
        use_cpu=launched_processes() > 1 and cpu_only(),
        **warmup_args(),
    )
    if args.world_size != launched_processes():
        raise SystemExit(f"launched {launched_processes()} processes but the Trainer runs on {args.world_size}: "
                         "each process would train alone on every row")
    rows = TokenizedRows(DATA_FILE)
    trainer_class = Trainer
    if opts.qwentune_order:
        order = QwenTuneOrder(ORDER_FILE, len(rows))

        class QwenTuneOrderTrainer(Trainer):
            def _get_train_sampler(self, *args, **kwargs):
                return order

        trainer_class = QwenTuneOrderTrainer
    trainer = trainer_class(model=model, args=args, train_dataset=rows, data_collator=collate)
    trainer.train()
    trainer.save_model(opts.output_dir)
    if trainer.is_world_process_zero():
        trainer.state.save_to_json(os.path.join(opts.output_dir, "trainer_state.json"))
        AutoTokenizer.from_pretrained(opts.base_model).save_pretrained(opts.output_dir)


if __name__ == "__main__":
    main()
`))

var accelerateYAML = template.Must(template.New("accelerate").Parse(`# accelerate config for one machine with {{.GPUs}} GPUs (data parallel).
# Set num_processes to the number of GPUs; see README.md for the batch size.
compute_environment: LOCAL_MACHINE
distributed_type: MULTI_GPU
num_machines: 1
machine_rank: 0
num_processes: {{.GPUs}}
gpu_ids: all
mixed_precision: '{{if eq .BF16 "True"}}bf16{{else}}no{{end}}'
main_training_function: main
rdzv_backend: static
same_network: true
use_cpu: false
downcast_bf16: 'no'
debug: false
`))

var jobReadme = template.Must(template.New("readme").Parse("# Fine-tuning job for a GPU machine\n\n" +
	"Written by `qwentune export --format hf-job`. It trains {{.BaseModelText}} ({{.Mode}} mode) with the Hugging Face\n" +
	"Trainer on the token ids and loss mask QwenTune computed from your dataset, so the run sees exactly the\n" +
	"tokens `qwentune train` would.\n\n" +
	"| file | what it is |\n|---|---|\n" +
	"| `train.jsonl` | {{.Rows}} rows of `{\"input_ids\": [...], \"labels\": [...]}`; label -100 = not trained on |\n" +
	"| `train.py` | transformers Trainer + PEFT with your config's LoRA, schedule, learning rate, epochs, accumulation and seed |\n" +
	"| `order.json` | the row order of every epoch of `qwentune train` (used with `--qwentune-order`) |\n" +
	"| `requirements.txt` | the torch, transformers, peft and accelerate versions the job was run against |\n" +
	"| `accelerate_config.yaml` | multi-GPU launch settings ({{.GPUs}} processes) |\n" +
	"| `run_config.yml` | the config.yml this job was made from |\n\n" +
	"## Run it\n\n```sh\npip install -r requirements.txt\n" +
	"accelerate launch --config_file accelerate_config.yaml train.py   # several GPUs\npython3 train.py                                                 # one GPU\n```\n\n" +
	"`BASE_MODEL` in `train.py` is `{{.BaseModelText}}`: a Hugging Face Hub id is downloaded; a local folder must exist on\n" +
	"the GPU machine (copy it there and pass `--base-model DIR`, or edit the line).\n\n" +
	"Options (`python3 train.py --help`): `--output-dir DIR` (default `output/` next to train.py), `--init-adapter DIR`\n" +
	"(start from an existing PEFT adapter, as `qwentune train --init-adapter` does, instead of fresh LoRA weights) and\n" +
	"`--qwentune-order` (visit the rows in the order `qwentune train` does, from order.json, instead of the Trainer's\n" +
	"own shuffling; on one process the run then reproduces `qwentune train`'s losses).\n\n" +
	"With N GPUs every optimizer step sees batch_size × gradient_accumulation_steps × N rows. To keep the\n" +
	"optimizer steps of a QwenTune run on one CPU, set `GRAD_ACCUM` in `train.py` to {{.GradAccumN}} / N (when it divides).\n\n" +
	"## Bring the adapter back\n\nThe adapter is saved in `output/` (adapter_config.json, adapter_model.safetensors, tokenizer files,\n" +
	"and trainer_state.json with the Trainer's log_history). Copy that folder back, then:\n\n```sh\nqwentune chat --adapter ./output                       # chat with it\n" +
	"qwentune train --init-adapter ./output                 # keep training it on the CPU\n" +
	"qwentune export --model {{.BaseModelText}} --adapter ./output --format gguf --out ./gguf   # for llama.cpp / Ollama\n```\n"))
