"""Plain-PyTorch Qwen2 causal LM for the QwenTune benchmarks.

No transformers or safetensors package needed: load() reads a Hugging Face
safetensors folder (one file or an index of shards) straight into torch
tensors, and Qwen2 implements the Hugging Face Qwen2ForCausalLM forward
(RMSNorm, RoPE, grouped-query attention with q/k/v biases, SwiGLU MLP, tied or
separate head) with optional LoRA on any of the seven projections and a KV
cache for generation.
"""

import json
import math
import os
import struct

import torch
import torch.nn.functional as F

DTYPES = {"F32": torch.float32, "BF16": torch.bfloat16, "F16": torch.float16}
PROJ = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


def read_safetensors(path, dtype):
    """Return {name: tensor} of one safetensors file, converted to dtype."""
    out = {}
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        base = 8 + n
        for name, meta in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"][0] if kv[0] != "__metadata__" else -1):
            if name == "__metadata__":
                continue
            src = DTYPES.get(meta["dtype"])
            if src is None:
                raise ValueError(f"{path}: tensor {name}: dtype {meta['dtype']} not supported")
            start, end = meta["data_offsets"]
            raw = torch.empty(end - start, dtype=torch.uint8)
            f.seek(base + start)
            if f.readinto(raw.numpy()) != end - start:
                raise ValueError(f"{path}: tensor {name}: file truncated")
            t = raw.view(src).reshape(meta["shape"])
            out[name] = t if src == dtype else t.to(dtype)
    return out


def load(folder, dtype=torch.float32):
    """Load config.json and all weights of a Hugging Face Qwen2 folder."""
    with open(os.path.join(folder, "config.json")) as f:
        cfg = json.load(f)
    index = os.path.join(folder, "model.safetensors.index.json")
    if os.path.exists(index):
        with open(index) as f:
            files = sorted(set(json.load(f)["weight_map"].values()))
    else:
        files = ["model.safetensors"]
    w = {}
    for name in files:
        w.update(read_safetensors(os.path.join(folder, name), dtype))
    return cfg, w


class LoRA(torch.nn.Module):
    """PEFT-style LoRA: delta = B(A(dropout(x))) * alpha / r, B starts at zero."""

    def __init__(self, d_in, d_out, r, alpha, dropout, dtype):
        super().__init__()
        self.A = torch.nn.Parameter(torch.empty(r, d_in, dtype=dtype))
        torch.nn.init.kaiming_uniform_(self.A, a=math.sqrt(5))
        self.B = torch.nn.Parameter(torch.zeros(d_out, r, dtype=dtype))
        self.scale = alpha / r
        self.dropout = dropout

    def forward(self, x):
        return F.linear(F.linear(F.dropout(x, self.dropout, self.training), self.A), self.B) * self.scale


class Qwen2(torch.nn.Module):
    """Qwen2ForCausalLM forward over frozen weights w plus trainable LoRA modules."""

    def __init__(self, cfg, w, lora_r=0, lora_alpha=16, lora_dropout=0.0, targets=()):
        super().__init__()
        self.cfg, self.w = cfg, w
        for t in w.values():
            t.requires_grad_(False)
        self.L = cfg["num_hidden_layers"]
        self.H = cfg["num_attention_heads"]
        self.KV = cfg["num_key_value_heads"]
        self.D = cfg["hidden_size"] // self.H
        self.eps = cfg["rms_norm_eps"]
        self.head = w.get("lm_head.weight", w["model.embed_tokens.weight"])
        dt = self.head.dtype
        self.inv_freq = 1.0 / (cfg.get("rope_theta", 10000.0) ** (torch.arange(0, self.D, 2, dtype=torch.float32) / self.D))
        self.lora = torch.nn.ModuleDict()
        for i in range(self.L):
            for p in targets:
                kind = "self_attn" if p in PROJ[:4] else "mlp"
                W = w[f"model.layers.{i}.{kind}.{p}.weight"]
                self.lora[f"{i}_{p}"] = LoRA(W.shape[1], W.shape[0], lora_r, lora_alpha, lora_dropout, dt)

    def lin(self, x, i, kind, p):
        pre = f"model.layers.{i}.{kind}.{p}"
        y = F.linear(x, self.w[pre + ".weight"], self.w.get(pre + ".bias"))
        key = f"{i}_{p}"
        if key in self.lora:
            y = y + self.lora[key](x)
        return y

    def norm(self, x, weight):
        xf = x.float()
        xf = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)
        return weight * xf.to(x.dtype)

    def rope(self, x, cos, sin):
        half = x.shape[-1] // 2
        rot = torch.cat((-x[..., half:], x[..., :half]), dim=-1)
        return x * cos + rot * sin

    def forward(self, ids, cache=None, last_only=False):
        """ids: 1-D LongTensor. cache: list of per-layer [k, v] or None. Returns logits (S, V) or (1, V)."""
        S = ids.shape[0]
        past = 0 if cache is None or cache[0] is None else cache[0][0].shape[1]
        x = self.w["model.embed_tokens.weight"][ids]
        pos = torch.arange(past, past + S, dtype=torch.float32)
        freqs = torch.outer(pos, self.inv_freq)
        emb = torch.cat((freqs, freqs), dim=-1)
        cos, sin = emb.cos().to(x.dtype), emb.sin().to(x.dtype)
        mask = None
        if S > 1:
            mask = torch.full((S, past + S), float("-inf"), dtype=x.dtype).triu(past + 1)
        rep = self.H // self.KV
        for i in range(self.L):
            h = self.norm(x, self.w[f"model.layers.{i}.input_layernorm.weight"])
            q = self.lin(h, i, "self_attn", "q_proj").view(S, self.H, self.D).transpose(0, 1)
            k = self.lin(h, i, "self_attn", "k_proj").view(S, self.KV, self.D).transpose(0, 1)
            v = self.lin(h, i, "self_attn", "v_proj").view(S, self.KV, self.D).transpose(0, 1)
            q, k = self.rope(q, cos, sin), self.rope(k, cos, sin)
            if cache is not None:
                if cache[i] is not None:
                    k = torch.cat((cache[i][0], k), dim=1)
                    v = torch.cat((cache[i][1], v), dim=1)
                cache[i] = (k, v)
            k = k.repeat_interleave(rep, dim=0)
            v = v.repeat_interleave(rep, dim=0)
            a = torch.matmul(q, k.transpose(1, 2)) / math.sqrt(self.D)
            if mask is not None:
                a = a + mask
            a = torch.softmax(a.float(), dim=-1).to(q.dtype)
            o = torch.matmul(a, v).transpose(0, 1).reshape(S, self.H * self.D)
            x = x + self.lin(o, i, "self_attn", "o_proj")
            h = self.norm(x, self.w[f"model.layers.{i}.post_attention_layernorm.weight"])
            g = F.silu(self.lin(h, i, "mlp", "gate_proj")) * self.lin(h, i, "mlp", "up_proj")
            x = x + self.lin(g, i, "mlp", "down_proj")
        if last_only:
            x = x[-1:]
        x = self.norm(x, self.w["model.norm.weight"])
        return F.linear(x, self.head)


def peak_rss_bytes():
    """VmHWM of this process (the same figure qwentune bench reports)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


def blas_info():
    """The OpenBLAS this process loaded (torch links the system libblas) and the kernel it chose."""
    import ctypes

    path = ""
    with open("/proc/self/maps") as f:
        for line in f:
            if "openblas" in line or "libblas" in line:
                path = line.split()[-1]
                break
    try:
        lib = ctypes.CDLL("libopenblas.so.0")
        lib.openblas_get_corename.restype = ctypes.c_char_p
        return f"{path} core={lib.openblas_get_corename().decode()}"
    except (OSError, AttributeError):
        return path or "unknown"
