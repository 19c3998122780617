"""The original pipeline's inference as a benchmark peer: transformers AutoModelForCausalLM.generate.

Loads the model with AutoModelForCausalLM (float32, or bfloat16 weights with --dtype bfloat16), prefills a
--prompt-len random prompt and decodes --gen tokens greedily with generate()'s KV cache: the workload of
`qwentune bench infer`. Prefill is timed as generate(max_new_tokens=1); decode as the rest of
generate(max_new_tokens=gen+1, min_new_tokens=gen+1), the fastest of three runs each. Prints tokens/s and peak RSS.

    $(scripts/pyenv.sh) bench/hf_generate.py --model /tmp/qwentune-bench/q15 --prompt-len 64 --gen 32 [--dtype bfloat16] --json
"""

import argparse
import json
import os
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the repo


def peak_rss_bytes():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True, help="Hugging Face Qwen2 folder")
    ap.add_argument("--prompt-len", type=int, default=64, help="prompt tokens")
    ap.add_argument("--gen", type=int, default=32, help="generated tokens")
    ap.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"], help="weight and compute dtype")
    ap.add_argument("--threads", type=int, default=os.cpu_count(), help="torch threads")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    a = ap.parse_args()

    import torch
    import transformers
    from transformers import AutoModelForCausalLM

    torch.set_num_threads(a.threads)
    transformers.logging.set_verbosity_error()
    dtype = getattr(torch, a.dtype)
    model = AutoModelForCausalLM.from_pretrained(a.model, dtype=dtype).eval()
    g = torch.Generator().manual_seed(1)
    prompt = torch.randint(0, model.config.vocab_size, (1, a.prompt_len), generator=g)
    mask = torch.ones_like(prompt)

    def gen(n):
        t = time.perf_counter()
        with torch.inference_mode():
            out = model.generate(prompt, attention_mask=mask, max_new_tokens=n, min_new_tokens=n, do_sample=False,
                                 pad_token_id=0)
        assert out.shape[1] == a.prompt_len + n
        return time.perf_counter() - t

    gen(2)  # warm-up
    prefill = min(gen(1) for _ in range(3))
    total = min(gen(a.gen + 1) for _ in range(3))
    decode = max(total - prefill, 1e-9)
    weight_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
    res = {
        "impl": "transformers generate",
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "openblas_coretype_env": os.environ.get("OPENBLAS_CORETYPE", ""),
        "threads": torch.get_num_threads(),
        "dtype": a.dtype,
        "prefill_tokens_per_s": a.prompt_len / prefill,
        "decode_tokens_per_s": a.gen / decode,
        "decode_bytes_per_s": weight_bytes * a.gen / decode,
        "peak_rss_bytes": peak_rss_bytes(),
    }
    if a.json:
        print(json.dumps(res))
    else:
        for k in sorted(res):
            print(f"{k:24s} {res[k]}")


if __name__ == "__main__":
    main()
