"""The original pipeline as a benchmark peer: transformers AutoModelForCausalLM + PEFT LoRA + Trainer.

Runs the Python pipeline QwenTune reproduces, on current PyTorch (the venv of scripts/pyenv.sh): the model loaded
with AutoModelForCausalLM in float32, LoRA r=64, alpha 16, dropout 0.05 on q_proj,v_proj through PEFT's
get_peft_model, and transformers.Trainer with AdamW (weight decay 0.01), batch 1, no accumulation, on one
--seq-token random sequence per optimizer step: the workload of `qwentune bench train`. With --bf16 the Trainer
runs under bf16=True (torch.autocast on the CPU; the weights and the LoRA stay float32), as a user of the original
pipeline would turn it on. Prints the median step time after one warm-up step, tokens/s and peak RSS (VmHWM).

    $(scripts/pyenv.sh) bench/hf_trainer.py --model /tmp/qwentune-bench/q15 --seq 256 --steps 3 [--bf16] --json
"""

import argparse
import json
import os
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # no __pycache__ in the repo


def peak_rss_bytes():
    """VmHWM of this process (the same figure qwentune bench reports)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True, help="Hugging Face Qwen2 folder")
    ap.add_argument("--seq", type=int, default=256, help="tokens per sequence (one sequence per step)")
    ap.add_argument("--steps", type=int, default=3, help="measured optimizer steps after one warm-up step")
    ap.add_argument("--r", type=int, default=64, help="LoRA rank")
    ap.add_argument("--targets", default="q_proj,v_proj", help="LoRA target modules")
    ap.add_argument("--bf16", action="store_true", help="Trainer bf16=True (CPU autocast to bfloat16)")
    ap.add_argument("--threads", type=int, default=os.cpu_count(), help="torch threads")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    a = ap.parse_args()

    import torch
    import transformers
    import peft
    from transformers import AutoModelForCausalLM, Trainer, TrainerCallback, TrainingArguments

    torch.set_num_threads(a.threads)
    transformers.logging.set_verbosity_error()
    t0 = time.time()
    model = AutoModelForCausalLM.from_pretrained(a.model, dtype=torch.float32)
    load_s = time.time() - t0
    lcfg = peft.LoraConfig(r=a.r, lora_alpha=16, lora_dropout=0.05, target_modules=a.targets.split(","),
                           bias="none", task_type="CAUSAL_LM")
    model = peft.get_peft_model(model, lcfg)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)

    g = torch.Generator().manual_seed(1)
    vocab = model.config.vocab_size
    rows = [torch.randint(0, vocab, (a.seq,), generator=g) for _ in range(a.steps + 1)]

    class Rows(torch.utils.data.Dataset):
        def __len__(self):
            return len(rows)

        def __getitem__(self, i):
            return {"input_ids": rows[i], "labels": rows[i].clone(), "attention_mask": torch.ones(a.seq, dtype=torch.long)}

    times, losses = [], []

    class Clock(TrainerCallback):
        def on_step_begin(self, args, state, control, **kw):
            self.t = time.perf_counter()

        def on_step_end(self, args, state, control, **kw):
            times.append(time.perf_counter() - self.t)

        def on_log(self, args, state, control, logs=None, **kw):
            if logs and "loss" in logs:
                losses.append(logs["loss"])

    with tempfile.TemporaryDirectory() as out:
        args = TrainingArguments(
            output_dir=out, per_device_train_batch_size=1, gradient_accumulation_steps=1, max_steps=a.steps + 1,
            learning_rate=2e-4, lr_scheduler_type="cosine", weight_decay=0.01, optim="adamw_torch",
            logging_steps=1, save_strategy="no", report_to=[], use_cpu=True, bf16=a.bf16,
            dataloader_num_workers=0, disable_tqdm=True, seed=42,
        )
        Trainer(model=model, args=args, train_dataset=Rows(), callbacks=[Clock()]).train()

    measured = sorted(times[1:])  # the first step allocates
    med = measured[len(measured) // 2]
    res = {
        "impl": "transformers+peft Trainer",
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "peft": peft.__version__,
        "blas": torch.__config__.show().split("BLAS_INFO=")[-1].split(",")[0].strip() if "BLAS_INFO=" in torch.__config__.show() else "",
        "openblas_coretype_env": os.environ.get("OPENBLAS_CORETYPE", ""),
        "threads": torch.get_num_threads(),
        "dtype": "bfloat16 autocast" if a.bf16 else "float32",
        "trainable_params": trainable,
        "load_seconds": load_s,
        "step_seconds_median": med,
        "step_seconds": times[1:],
        "train_tokens_per_s": a.seq / med,
        "peak_rss_bytes": peak_rss_bytes(),
        "first_loss": losses[0] if losses else None,
    }
    if a.json:
        print(json.dumps(res))
    else:
        for k in sorted(res):
            print(f"{k:24s} {res[k]}")


if __name__ == "__main__":
    main()
