"""The training reference of the parity suite: transformers.Trainer + PEFT on QwenTune's own tokens.

    python parity/train_ref.py init SPEC.json     # a PEFT adapter with non-zero B, made by get_peft_model
    python parity/train_ref.py train SPEC.json    # Trainer + PEFT from that adapter; writes the adapter and log.json
    python parity/train_ref.py logits SPEC.json   # PeftModel's float32 logits of some rows, to JSON

SPEC.json is written by parity/train_test.go; its keys are read below, by name, and a missing one is an error.

`train` feeds the Trainer exactly what `qwentune train` sees: the rows of the hf-job's train.jsonl (QwenTune's
token ids and labels, -100 where the loss does not count), visited epoch by epoch in the order QwenTune's trainer
visits them (the job's order.json: dataset.Order), cut into batches and padded on the right as QwenTune pads
(input_ids with the pad id, labels with -100, attention_mask 0). Everything else is the Trainer's own: gradient
accumulation with num_items_in_batch, clipping, torch's AdamW with the Trainer's decay groups, the cosine schedule
with warmup, log_history.

log.json holds, per optimizer step, the raw loss (the sum of the micro-batch losses training_step returned,
recorded before any logging), plus the Trainer's log_history as it is.
"""

import json
import os
import sys

import torch
from torch.utils.data import Dataset, Sampler


def load_spec(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def load_model(spec):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(spec["model"], dtype=torch.float32)
    return model.to(torch.float32)


def cmd_init(spec):
    """A fresh LoRA adapter as get_peft_model makes it, but with B drawn too (init_lora_weights=False: both A and B
    keep nn.Linear's kaiming-uniform init), so the first step's gradients reach A and the initial logits differ
    from the base model's."""
    from peft import LoraConfig, get_peft_model

    model = load_model(spec)
    torch.manual_seed(spec["seed"])
    cfg = LoraConfig(r=spec["r"], lora_alpha=spec["alpha"], lora_dropout=0.0, target_modules=spec["targets"],
                     bias="none", task_type="CAUSAL_LM", init_lora_weights=False)
    model = get_peft_model(model, cfg)
    model.save_pretrained(spec["out"])


class Rows(Dataset):
    def __init__(self, path):
        self.rows = []
        with open(path, encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    self.rows.append(json.loads(line))

    def __len__(self):
        return len(self.rows)

    def __getitem__(self, i):
        return self.rows[i]


class EpochOrder(Sampler):
    """Yields epoch e's row order, orders[e]: the order QwenTune's trainer visits the rows in that epoch. The
    Trainer (through accelerate's DataLoaderShard) calls set_epoch before each epoch."""

    def __init__(self, orders):
        self.orders = orders
        self.epoch = 0

    def set_epoch(self, epoch):
        self.epoch = epoch

    def __iter__(self):
        if self.epoch >= len(self.orders):
            raise RuntimeError(f"epoch {self.epoch}: the spec has orders for {len(self.orders)} epochs")
        return iter(self.orders[self.epoch])

    def __len__(self):
        return len(self.orders[0])


def make_collate(pad_id, pad_to):
    """Pads on the right to the longest row, or to pad_to when it is larger (QwenTune's padding: max_length)."""

    def collate(rows):
        width = max(pad_to, max(len(r["input_ids"]) for r in rows))
        ids, labels, mask = [], [], []
        for r in rows:
            n = len(r["input_ids"])
            ids.append(r["input_ids"] + [pad_id] * (width - n))
            labels.append(r["labels"] + [-100] * (width - n))
            mask.append([1] * n + [0] * (width - n))
        return {"input_ids": torch.tensor(ids), "labels": torch.tensor(labels), "attention_mask": torch.tensor(mask)}

    return collate


def cmd_train(spec):
    from peft import PeftModel
    from transformers import Trainer, TrainerCallback, TrainingArguments, set_seed

    set_seed(spec["seed"])
    model = PeftModel.from_pretrained(load_model(spec), spec["init_adapter"], is_trainable=True)
    raw = []      # per optimizer step: the summed micro-batch losses
    pending = []  # the micro-batch losses of the step in progress

    class RecordingTrainer(Trainer):
        def _get_train_sampler(self, train_dataset=None):
            return EpochOrder(spec["order"])

        def training_step(self, model, inputs, num_items_in_batch=None):
            loss = super().training_step(model, inputs, num_items_in_batch)
            pending.append(float(loss.double()))
            return loss

    class StepEnd(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            raw.append({"step": state.global_step, "loss": sum(pending), "micro_batches": len(pending)})
            pending.clear()

    args = TrainingArguments(
        output_dir=os.path.join(spec["out"], "trainer"),
        per_device_train_batch_size=spec["batch_size"],
        gradient_accumulation_steps=spec["grad_accum"],
        learning_rate=spec["lr"],
        lr_scheduler_type=spec["scheduler"],
        warmup_steps=spec["warmup_steps"],
        weight_decay=spec["weight_decay"],
        optim="adamw_torch",
        num_train_epochs=spec["epochs"],
        max_grad_norm=spec["max_grad_norm"],
        logging_steps=1,
        save_strategy="no",
        seed=spec["seed"],
        remove_unused_columns=False,
        report_to="none",
        use_cpu=True,
        dataloader_num_workers=0,
        disable_tqdm=True,
    )
    trainer = RecordingTrainer(model=model, args=args, train_dataset=Rows(spec["data"]),
                               data_collator=make_collate(spec["pad_id"], spec["pad_to"]), callbacks=[StepEnd()])
    trainer.train()
    model.save_pretrained(spec["out"])
    import transformers

    with open(os.path.join(spec["out"], "log.json"), "w", encoding="utf-8") as f:
        json.dump({"raw": raw, "log_history": trainer.state.log_history, "max_steps": trainer.state.max_steps,
                   "transformers": transformers.__version__, "torch": torch.__version__}, f)


def cmd_logits(spec):
    """Float32 logits of each row (no padding, one row at a time) with the adapter applied by PEFT, written to
    spec["out"] as raw little-endian float32, the rows one after the other ([len(row), vocab] each)."""
    from peft import PeftModel

    model = load_model(spec)
    if spec.get("adapter"):
        model = PeftModel.from_pretrained(model, spec["adapter"])
    model.eval()
    with torch.no_grad(), open(spec["out"], "wb") as f:
        for ids in spec["rows"]:
            logits = model(input_ids=torch.tensor([ids])).logits[0].to(torch.float32).contiguous()
            f.write(logits.numpy().astype("<f4").tobytes())


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in ("init", "train", "logits"):
        sys.exit(__doc__)
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    {"init": cmd_init, "train": cmd_train, "logits": cmd_logits}[sys.argv[1]](load_spec(sys.argv[2]))


if __name__ == "__main__":
    main()
