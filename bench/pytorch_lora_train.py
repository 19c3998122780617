"""PyTorch reference for `qwentune bench train`: LoRA fine-tuning speed and memory.

Loads a Hugging Face Qwen2 safetensors folder with plain torch (bench/qwen2_torch.py),
puts LoRA (rank --r, alpha 16, dropout 0.05, PEFT initialisation) on --targets,
and runs AdamW steps on one --seq-token random sequence per step, exactly the
workload of `qwentune bench train`. Prints the median step time after one
warm-up step, tokens/s and peak RSS (VmHWM), as text or one JSON line.

    python3 bench/pytorch_lora_train.py --model /tmp/q15 --seq 256 --steps 5
"""

import argparse
import json
import os
import sys
import time

import torch

sys.dont_write_bytecode = True  # no __pycache__ in the repo
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import qwen2_torch  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True, help="Hugging Face Qwen2 folder")
    ap.add_argument("--seq", type=int, default=256, help="tokens per sequence (one sequence per step)")
    ap.add_argument("--steps", type=int, default=5, help="measured optimizer steps after one warm-up step")
    ap.add_argument("--r", type=int, default=64, help="LoRA rank")
    ap.add_argument("--targets", default="q_proj,v_proj", help="LoRA target modules")
    ap.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"], help="weight and compute dtype")
    ap.add_argument("--threads", type=int, default=os.cpu_count(), help="torch threads")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    a = ap.parse_args()

    torch.set_num_threads(a.threads)
    torch.manual_seed(42)
    dtype = getattr(torch, a.dtype)
    t0 = time.time()
    cfg, w = qwen2_torch.load(a.model, dtype)
    load_s = time.time() - t0
    m = qwen2_torch.Qwen2(cfg, w, lora_r=a.r, lora_alpha=16, lora_dropout=0.05, targets=a.targets.split(","))
    m.train()
    opt = torch.optim.AdamW(m.parameters(), lr=2e-4, weight_decay=0.0)
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(0, cfg["vocab_size"], (a.seq,), generator=g)
    times, losses = [], []
    for i in range(a.steps + 1):
        t = time.perf_counter()
        logits = m(ids)
        loss = torch.nn.functional.cross_entropy(logits[:-1].float(), ids[1:])
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        if i > 0:  # the first step allocates
            times.append(time.perf_counter() - t)
        losses.append(loss.item())
        del logits, loss
    times.sort()
    med = times[len(times) // 2]
    res = {
        "impl": "pytorch",
        "torch": torch.__version__,
        "blas": qwen2_torch.blas_info(),
        "openblas_coretype_env": os.environ.get("OPENBLAS_CORETYPE", ""),
        "threads": torch.get_num_threads(),
        "dtype": a.dtype,
        "trainable_params": sum(p.numel() for p in m.parameters()),
        "load_seconds": load_s,
        "step_seconds_median": med,
        "step_seconds": times,
        "train_tokens_per_s": a.seq / med,
        "peak_rss_bytes": qwen2_torch.peak_rss_bytes(),
        "first_loss": losses[0],
    }
    if a.json:
        print(json.dumps(res))
    else:
        for k in sorted(res):
            print(f"{k:24s} {res[k]}")


if __name__ == "__main__":
    main()
