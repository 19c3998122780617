"""PyTorch reference for `qwentune bench infer`: prefill and greedy-decode speed.

Loads a Hugging Face Qwen2 safetensors folder with plain torch (bench/qwen2_torch.py),
prefills a --prompt-len random prompt (head on the last position only), then
decodes --gen tokens greedily with a KV cache, exactly the workload of
`qwentune bench infer`. Prints tokens/s and peak RSS, as text or one JSON line.

    python3 bench/pytorch_infer.py --model /tmp/q15 --prompt-len 64 --gen 32
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
    ap.add_argument("--prompt-len", type=int, default=64, help="prompt tokens")
    ap.add_argument("--gen", type=int, default=32, help="generated tokens")
    ap.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"], help="weight and compute dtype")
    ap.add_argument("--threads", type=int, default=os.cpu_count(), help="torch threads")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    a = ap.parse_args()

    torch.set_num_threads(a.threads)
    dtype = getattr(torch, a.dtype)
    cfg, w = qwen2_torch.load(a.model, dtype)
    m = qwen2_torch.Qwen2(cfg, w).eval()
    g = torch.Generator().manual_seed(1)
    prompt = torch.randint(0, cfg["vocab_size"], (a.prompt_len,), generator=g)
    cache = [None] * cfg["num_hidden_layers"]
    with torch.inference_mode():
        t0 = time.perf_counter()
        nxt = m(prompt, cache, last_only=True)[-1].argmax()
        prefill = time.perf_counter() - t0
        t1 = time.perf_counter()
        for _ in range(a.gen):
            nxt = m(nxt.view(1), cache, last_only=True)[-1].argmax()
        decode = time.perf_counter() - t1
    weight_bytes = sum(t.numel() * t.element_size() for t in w.values())
    res = {
        "impl": "pytorch",
        "torch": torch.__version__,
        "blas": qwen2_torch.blas_info(),
        "openblas_coretype_env": os.environ.get("OPENBLAS_CORETYPE", ""),
        "threads": torch.get_num_threads(),
        "dtype": a.dtype,
        "prefill_tokens_per_s": a.prompt_len / prefill,
        "decode_tokens_per_s": a.gen / decode,
        "decode_bytes_per_s": weight_bytes * a.gen / decode,
        "peak_rss_bytes": qwen2_torch.peak_rss_bytes(),
    }
    if a.json:
        print(json.dumps(res))
    else:
        for k in sorted(res):
            print(f"{k:24s} {res[k]}")


if __name__ == "__main__":
    main()
