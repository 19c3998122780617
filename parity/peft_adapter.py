"""PEFT's side of the adapter checks: adapters made (and trained) by PEFT, and PEFT's merge.

    python parity/peft_adapter.py make  MODEL OUT CONFIG.json   # get_peft_model, B drawn at random, save_pretrained
    python parity/peft_adapter.py train MODEL OUT CONFIG.json   # get_peft_model (B = 0), a few AdamW steps, save
    python parity/peft_adapter.py merge MODEL ADAPTER OUT       # PeftModel.from_pretrained, merge_and_unload, save

CONFIG holds LoraConfig's arguments (r, lora_alpha, lora_dropout, target_modules, use_rslora, rank_pattern,
alpha_pattern) plus "steps" and "seed" for train. make uses init_lora_weights=False, PEFT's own way of drawing a
non-zero B, so that an adapter changes the logits without training. train uses PEFT's default initialisation and
then runs `steps` optimizer steps in training mode (dropout on) on random token rows, so the adapter is one PEFT
really trained. merge writes the merged model with save_pretrained (float32).
"""

import sys

import torch
from peft import LoraConfig, PeftModel, get_peft_model
from transformers import AutoModelForCausalLM

from common import read_json

LORA_KEYS = ("r", "lora_alpha", "lora_dropout", "target_modules", "use_rslora", "rank_pattern", "alpha_pattern")


def peft_model(model_dir, cfg, init):
    base = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    lc = LoraConfig(task_type="CAUSAL_LM", init_lora_weights=init, **{k: cfg[k] for k in LORA_KEYS if k in cfg})
    return get_peft_model(base, lc)


def make(model_dir, out, cfg):
    torch.manual_seed(cfg.get("seed", 0))
    peft_model(model_dir, cfg, False).save_pretrained(out)


def train(model_dir, out, cfg):
    torch.manual_seed(cfg.get("seed", 0))
    model = peft_model(model_dir, cfg, True)
    model.train()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=cfg.get("lr", 1e-2))
    g = torch.Generator().manual_seed(cfg.get("seed", 0))
    for _ in range(cfg["steps"]):
        ids = torch.randint(0, 151643, (2, 12), generator=g)
        loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
    b = [p for n, p in model.named_parameters() if "lora_B" in n]
    if not b or all(float(p.abs().max()) == 0 for p in b):
        sys.exit("train: every lora_B is still zero after training")
    model.save_pretrained(out)


def merge(model_dir, adapter, out):
    base = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    merged = PeftModel.from_pretrained(base, adapter).merge_and_unload()
    merged.save_pretrained(out)


def main():
    op = sys.argv[1] if len(sys.argv) > 1 else ""
    if op in ("make", "train") and len(sys.argv) == 5:
        (make if op == "make" else train)(sys.argv[2], sys.argv[3], read_json(sys.argv[4]))
    elif op == "merge" and len(sys.argv) == 5:
        merge(*sys.argv[2:5])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
