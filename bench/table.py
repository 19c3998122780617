"""Print the comparison table of bench/run.sh from its results folder(s).

    python3 bench/table.py /tmp/qwentune-bench/results [MORE_RESULTS ...]

With several folders (repeated runs on a busy machine) each configuration
shows its fastest run (decode tokens/s for inference, tokens/s for training),
with that run's own sgemm, bandwidth and load figures.

Each *.json there is {"name", "load_before", "load_after", "result"}, where
result is the JSON line of `qwentune bench --json`, bench/pytorch_*.py or
bench/llamacpp_bench.mjs. Peers have no sgemm/bandwidth figures of their own;
their ratios use those of QwenTune's run with the same OpenBLAS kernel.
"""

import glob
import json
import os
import sys

GB = 1e9


def speed(run):
    r = run["result"]
    return r.get("train_tokens_per_s") or r.get("decode_tokens_per_s") or 0


def read(folders):
    runs = {}
    for folder in folders:
        for p in sorted(glob.glob(os.path.join(folder, "*.json"))):
            with open(p) as f:
                r = json.load(f)
            r["folder"] = folder
            if r["name"] not in runs or speed(r) > speed(runs[r["name"]]):
                runs[r["name"]] = r
    return dict(sorted(runs.items()))


def load(run):
    """The 1-minute load average before → after the run."""
    return run["load_before"].split()[0] + "→" + run["load_after"].split()[0]


def fmt(v, spec):
    width = int("".join(c for c in spec.split(".")[0] if c.isdigit()) or 0)
    return "-".rjust(width) if v is None else format(v, spec)


def main():
    runs = read(sys.argv[1:] or ["/tmp/qwentune-bench/results"])
    res = {k: v["result"] for k, v in runs.items()}

    def get(name, key):
        return res.get(name, {}).get(key)

    def ratio(a, b):
        return None if a is None or b is None or b == 0 else a / b

    def kernel(name):
        r = res[name]
        if "kernel" in r:
            return f"{r['kernel']} (env {r.get('openblas_coretype_env') or 'unset'})"
        if r.get("impl", "").startswith("llama.cpp"):
            return "ggml CPU backend"
        if r.get("transformers"):  # PyPI's torch 2 does its float32 and bfloat16 products in oneDNN/MKL, not OpenBLAS
            return f"torch {r['torch']} {r.get('blas') or 'MKL/oneDNN'}, transformers {r['transformers']}"
        core = r.get("blas", "").rpartition("core=")[2]
        return f"{core or '?'} (env {r.get('openblas_coretype_env') or 'unset'})"

    best = {}  # OpenBLAS kernel -> the highest sgemm GFLOPS any QwenTune run of this session measured
    for r in res.values():
        if "sgemm_gflops" in r:
            best[r["kernel"]] = max(best.get(r["kernel"], 0), r["sgemm_gflops"])

    def ref(name):  # the QwenTune f32 run with the same kernel choice, for peers' sgemm/bandwidth
        return "qt_infer_f32_env" if name.endswith("_env") else "qt_infer_f32_native"

    print("Inference, Qwen2-1.5B shape, 64-token prompt, 32 greedy tokens")
    print(f"{'run':30s} {'prefill tok/s':>13s} {'decode tok/s':>12s} {'prefill/sgemm':>13s} {'/best sgemm':>11s} {'decode/bw':>9s} {'/wt read':>8s} {'peak RSS GB':>11s} {'load 1m':>10s}  kernel")
    for name in [n for n in runs if "_infer_" in n]:
        r = res[name]
        sg = r.get("sgemm_gflops") or get(ref(name), "sgemm_gflops")
        bw = r.get("bandwidth_bytes_per_s") or get(ref(name), "bandwidth_bytes_per_s")
        pg = r.get("prefill_gflops")
        if pg is None and r.get("prefill_tokens_per_s") is not None and get("qt_infer_f32_native", "prefill_gflops"):
            qn = res["qt_infer_f32_native"]
            pg = qn["prefill_gflops"] / qn["prefill_tokens_per_s"] * r["prefill_tokens_per_s"]  # same FLOPs per token
        print(f"{name:30s} {fmt(r.get('prefill_tokens_per_s'), '13.2f')} {fmt(r.get('decode_tokens_per_s'), '12.2f')} "
              f"{fmt(ratio(pg, sg), '13.0%')} {fmt(ratio(pg, best.get(r.get('kernel', res.get(ref(name), {}).get('kernel')))), '11.0%')} "
              f"{fmt(ratio(r.get('decode_bytes_per_s'), bw), '9.0%')} {fmt(r.get('decode_vs_weight_read'), '8.0%')} "
              f"{fmt(r.get('peak_rss_bytes', 0) / GB, '11.2f')} {load(runs[name]):>10s}  {kernel(name)}")
    if "qt_infer_f32_native" in res:
        q = res["qt_infer_f32_native"]
        wr = f", weights read between decode steps {q['weight_read_bytes_per_s'] / GB:.1f} GB/s" if "weight_read_bytes_per_s" in q else ""
        print(f"  same-run sgemm {q['sgemm_gflops']:.1f} GFLOPS, bandwidth {q['bandwidth_bytes_per_s'] / GB:.1f} GB/s (fastest 256 MiB read){wr}, f32 weights {q['weight_bytes'] / GB:.2f} GB")
    print("  best sgemm of the session: " + ", ".join(f"{k} {v:.1f} GFLOPS" for k, v in sorted(best.items())))
    print()
    print("Training, Qwen2-1.5B shape f32, LoRA r=64 alpha 16 on q_proj,v_proj, one 256-token sequence per step, AdamW")
    print(f"{'run':30s} {'tok/s':>7s} {'step s':>7s} {'MFU/sgemm':>9s} {'/best sgemm':>11s} {'peak RSS GB':>11s} {'load 1m':>10s}  kernel")
    fpt = get("qt_train_f32_native", "flops_per_token") or get("qt_train_f32_env", "flops_per_token")
    for name in [n for n in runs if "_train_" in n]:
        r = dict(res[name])
        if "model_gflops" not in r and fpt and r.get("train_tokens_per_s"):  # a peer: same FLOPs per token as QwenTune's count
            r["model_gflops"] = fpt * r["train_tokens_per_s"] / 1e9
            r["kernel"] = res.get(ref(name).replace("infer", "train"), {}).get("kernel")
            r["mfu_vs_sgemm"] = ratio(r["model_gflops"], res.get(ref(name).replace("infer", "train"), {}).get("sgemm_gflops"))
        print(f"{name:30s} {fmt(r.get('train_tokens_per_s'), '7.2f')} {fmt(r.get('step_seconds_median'), '7.2f')} "
              f"{fmt(r.get('mfu_vs_sgemm'), '9.0%')} {fmt(ratio(r.get('model_gflops'), best.get(r.get('kernel'))), '11.0%')} "
              f"{fmt(r.get('peak_rss_bytes', 0) / GB, '11.2f')} "
              f"{load(runs[name]):>10s}  {kernel(name)}")
    folders = sorted({r["folder"] for r in runs.values()})
    if len(folders) > 1:
        print("  fastest of " + ", ".join(folders) + "; per run: " + ", ".join(f"{n} {os.path.basename(r['folder'])}" for n, r in runs.items()))
    print()
    print("Targets (same-session ratios)")
    checks = [
        ("prefill ≥ 60% of sgemm (f32, native)", get("qt_infer_f32_native", "prefill_vs_sgemm"), 0.60),
        ("decode ≥ 80% of bandwidth bound (f32, native)", get("qt_infer_f32_native", "decode_vs_bandwidth"), 0.80),
        ("decode ≥ 80% of its weights' read, in alternation (f32, native)", get("qt_infer_f32_native", "decode_vs_weight_read"), 0.80),
        ("bf16 decode ≥ 1.6x f32 decode", ratio(get("qt_infer_bf16_native", "decode_tokens_per_s"), get("qt_infer_f32_native", "decode_tokens_per_s")), 1.6),
        ("decode vs llama.cpp", ratio(get("qt_infer_f32_native", "decode_tokens_per_s"), get("llamacpp_infer_f32", "decode_tokens_per_s")), None),
        ("prefill vs llama.cpp", ratio(get("qt_infer_f32_native", "prefill_tokens_per_s"), get("llamacpp_infer_f32", "prefill_tokens_per_s")), None),
        ("decode vs PyTorch (native)", ratio(get("qt_infer_f32_native", "decode_tokens_per_s"), get("torch_infer_f32_native", "decode_tokens_per_s")), None),
        ("prefill vs PyTorch (native)", ratio(get("qt_infer_f32_native", "prefill_tokens_per_s"), get("torch_infer_f32_native", "prefill_tokens_per_s")), None),
        ("train tok/s ≥ 2.5x PyTorch (native kernel)", ratio(get("qt_train_f32_native", "train_tokens_per_s"), get("torch_train_f32_native", "train_tokens_per_s")), 2.5),
        ("train tok/s ≥ 2.5x PyTorch (env kernel)", ratio(get("qt_train_f32_env", "train_tokens_per_s"), get("torch_train_f32_env", "train_tokens_per_s")), 2.5),
        ("train tok/s ≥ 2.5x PyTorch OMP_WAIT_POLICY=PASSIVE", ratio(get("qt_train_f32_native", "train_tokens_per_s"), get("torch_train_f32_native_passive", "train_tokens_per_s")), 2.5),
        ("decode vs PyTorch OMP_WAIT_POLICY=PASSIVE", ratio(get("qt_infer_f32_native", "decode_tokens_per_s"), get("torch_infer_f32_native_passive", "decode_tokens_per_s")), None),
        ("prefill vs PyTorch OMP_WAIT_POLICY=PASSIVE", ratio(get("qt_infer_f32_native", "prefill_tokens_per_s"), get("torch_infer_f32_native_passive", "prefill_tokens_per_s")), None),
        ("train tok/s ≥ 1.5x the original pipeline (Trainer+PEFT, f32)", ratio(get("qt_train_f32_native", "train_tokens_per_s"), get("hf_train_f32", "train_tokens_per_s")), 1.5),
        ("train tok/s vs the original pipeline with bf16=True", ratio(get("qt_train_f32_native", "train_tokens_per_s"), get("hf_train_bf16", "train_tokens_per_s")), None),
        ("train bf16 tok/s vs the original pipeline with bf16=True", ratio(get("qt_train_bf16_native", "train_tokens_per_s"), get("hf_train_bf16", "train_tokens_per_s")), None),
        ("train peak RSS vs the original pipeline (f32)", ratio(get("qt_train_f32_native", "peak_rss_bytes"), get("hf_train_f32", "peak_rss_bytes")), None),
        ("decode ≥ 2x transformers generate (f32)", ratio(get("qt_infer_f32_native", "decode_tokens_per_s"), get("hf_infer_f32", "decode_tokens_per_s")), 2.0),
        ("decode ≥ 2x transformers generate (bf16)", ratio(get("qt_infer_bf16_native", "decode_tokens_per_s"), get("hf_infer_bf16", "decode_tokens_per_s")), 2.0),
        ("prefill vs transformers generate (f32)", ratio(get("qt_infer_f32_native", "prefill_tokens_per_s"), get("hf_infer_f32", "prefill_tokens_per_s")), None),
        ("prefill vs transformers generate (bf16)", ratio(get("qt_infer_bf16_native", "prefill_tokens_per_s"), get("hf_infer_bf16", "prefill_tokens_per_s")), None),
        ("train MFU ≥ 60% of sgemm (f32, native)", get("qt_train_f32_native", "mfu_vs_sgemm"), 0.60),
        ("train MFU ≥ 60% of best sgemm (f32, native)", ratio(get("qt_train_f32_native", "model_gflops"), best.get(get("qt_train_f32_native", "kernel"))), 0.60),
        ("prefill ≥ 60% of best sgemm (f32, native)", ratio(get("qt_infer_f32_native", "prefill_gflops"), best.get(get("qt_infer_f32_native", "kernel"))), 0.60),
        ("train peak RSS ≤ 0.8x PyTorch's (f32, native)", ratio(get("qt_train_f32_native", "peak_rss_bytes"), get("torch_train_f32_native", "peak_rss_bytes")), -0.8),
        ("train bf16 peak RSS vs PyTorch f32 (about 0.5)", ratio(get("qt_train_bf16_native", "peak_rss_bytes"), get("torch_train_f32_native", "peak_rss_bytes")), None),
        ("train bf16 peak RSS vs own f32", ratio(get("qt_train_bf16_native", "peak_rss_bytes"), get("qt_train_f32_native", "peak_rss_bytes")), None),
        ("train bf16 tok/s vs f32", ratio(get("qt_train_bf16_native", "train_tokens_per_s"), get("qt_train_f32_native", "train_tokens_per_s")), None),
    ]
    # q8_0 decode: three alternated rounds (ours, llama.cpp on the Q8_0
    # GGUF, our bfloat16), each round's ratios, not only the best.
    for i in (1, 2, 3):
        q8 = get(f"qt_infer_q8_native_r{i}", "decode_tokens_per_s")
        checks.append((f"q8_0 decode ≥ 1.0x llama.cpp Q8_0, round {i}", ratio(q8, get(f"llamacpp_infer_q8_r{i}", "decode_tokens_per_s")), 1.0))
        checks.append((f"q8_0 decode ≥ 1.7x own bf16 decode, round {i}", ratio(q8, get(f"qt_infer_bf16_native_r{i}", "decode_tokens_per_s")), 1.7))
    checks.append(("train q8_0 tok/s ≥ 0.9x bf16 (same compute dtype)", ratio(get("qt_train_q8_native", "train_tokens_per_s"), get("qt_train_bf16_native", "train_tokens_per_s")), 0.9))
    checks.append(("q8_0 weights resident ≤ 1.8 GB (bytes; ratio to 1.8 GB)", ratio(get("qt_infer_q8_native_r1", "weight_bytes"), 1.8 * GB), -1.0))
    for label, v, target in checks:
        if v is None:
            verdict = "not measured"
        elif target is None:
            verdict = ""
        elif target < 0:
            verdict = "PASS" if v <= -target else "FAIL"
        else:
            verdict = "PASS" if v >= target else "FAIL"
        shown = "-" if v is None else (f"{v:.0%}" if "%" in label else f"{v:.2f}x")
        print(f"  {label:62s} {shown:>8s}  {verdict}")


if __name__ == "__main__":
    main()
