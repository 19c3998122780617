"""Holds a GGUF file QwenTune wrote against what llama.cpp's converters write for the same model, using the gguf
package's own tables (gguf.Keys, the Qwen2 tensor name map, gguf.quants) rather than hand-written lists.

    python parity/gguf_check.py model   FILE.gguf HF_DIR DTYPE OUT.json   # convert_hf_to_gguf.py --outtype DTYPE
    python parity/gguf_check.py adapter FILE.gguf ADAPTER_DIR BASE_DIR DTYPE OUT.json   # convert_lora_to_gguf.py

HF_DIR is the Hugging Face folder the converter would read (for a merged export: the merged folder QwenTune wrote,
float32). The expected metadata is made by driving gguf.GGUFWriter with the calls the converter makes
(TextModel.set_gguf_parameters, _set_vocab_gpt2 with get_vocab_base and gguf.SpecialVocab, LoraModel.set_type /
set_gguf_parameters in llama.cpp's conversion/base.py and convert_lora_to_gguf.py), then reading that file back
with GGUFReader, so key names, value types and values all come from the gguf package. Tensors: names from
gguf.get_tensor_name_map(QWEN2), shapes reversed, types by the converter's rule (1-D and *_norm.weight F32, the
rest the outtype, a Q8_0 tensor whose rows are not a multiple of 32 falls back to F16) and data from
gguf.quants.quantize of the float32 weights, byte for byte.

OUT: {"problems": [str, ...], "keys": [...], "tensors": n}; the Go test fails on any problem.
"""

import hashlib
import json
import math
import os
import sys
import tempfile

import numpy as np
import gguf
from safetensors.numpy import load_file

FTYPES = {"f32": gguf.LlamaFileType.ALL_F32, "f16": gguf.LlamaFileType.MOSTLY_F16,
          "bf16": gguf.LlamaFileType.MOSTLY_BF16, "q8_0": gguf.LlamaFileType.MOSTLY_Q8_0}
QTYPES = {"f32": gguf.GGMLQuantizationType.F32, "f16": gguf.GGMLQuantizationType.F16,
          "bf16": gguf.GGMLQuantizationType.BF16, "q8_0": gguf.GGMLQuantizationType.Q8_0}

# tokenizer.ggml.pre comes from hashing the ids of a check text (convert_hf_to_gguf.py get_vocab_base_pre, a table
# generated from the Hub); these are its entries that name "qwen2" (Qwen1.5-7B and Qwen3-Embedding-0.6B).
CHKTXT = ('\n \n\n \n\n\n \t \t\t \t\n  \n   \n    \n     \n🚀 (normal) 😶\u200d🌫️ (multiple emojis concatenated) ✅ 🦙🦙 3 33 '
          '333 3333 33333 333333 3333333 33333333 3.3 3..3 3...3 កាន់តែពិសេសអាច😁 ?我想在apple工作1314151天～ ------======= нещо '
          'на Български \'\'\'\'\'\'```````""""......!!!!!!?????? I\'ve been \'told he\'s there, \'RE you sure? \'M not sure '
          'I\'ll make it, \'D you like some tea? We\'Ve a\'lL')
PRE_HASHES = {"e636dc30a262dcc0d8c323492e32ae2b70728f4df7dfe9737d9f920a282b8aea": "qwen2",
              "d4540891389ea895b53b399da6ac824becc30f2fba0e9ddbb98f92e55ca0e97c": "qwen2"}


def does_token_look_special(t):
    return (t in ("<pad>", "<mask>", "<2mass>", "[@BOS@]") or (t.startswith("<|") and t.endswith("|>"))
            or (t.startswith("<｜") and t.endswith("｜>")) or (t.startswith("<unused") and t.endswith(">")))


def vocab(hf_dir, vocab_size):
    """convert_hf_to_gguf.py TextModel.get_vocab_base."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(hf_dir)
    chkhsh = hashlib.sha256(str(tok.encode(CHKTXT)).encode()).hexdigest()
    pre = PRE_HASHES.get(chkhsh)
    if pre is None:
        raise SystemExit(f"the tokenizer's pre-tokenizer hash {chkhsh} is not one of llama.cpp's qwen2 entries")
    reverse = {i: t for t, i in tok.vocab.items()}
    added, decoder = tok.get_added_vocab(), tok.added_tokens_decoder
    tokens, types = [], []
    for i in range(vocab_size):
        if i not in reverse:
            tokens.append(f"[PAD{i}]")
            types.append(gguf.TokenType.UNUSED)
            continue
        t = reverse[i]
        if t in added:
            if not decoder[i].normalized:
                t = tok.decode(tok.encode(t, add_special_tokens=False))
            if decoder[i].special or does_token_look_special(t):
                types.append(gguf.TokenType.CONTROL)
            else:
                t = t.replace("\u2581", " ")
                types.append(gguf.TokenType.USER_DEFINED)
        else:
            types.append(gguf.TokenType.NORMAL)
        tokens.append(t)
    return tokens, types, pre


def expected_kv(kind, cfg, hf_dir, dtype, lora_alpha=None):
    """Writes the converter's metadata with gguf.GGUFWriter and reads it back: {key: (types, value)}."""
    fd, path = tempfile.mkstemp(suffix=".gguf")
    os.close(fd)
    try:
        w = gguf.GGUFWriter(path, gguf.MODEL_ARCH_NAMES[gguf.MODEL_ARCH.QWEN2])
        if kind == "adapter":
            w.add_type(gguf.GGUFType.ADAPTER)
            w.add_string(gguf.Keys.Adapter.TYPE, "lora")
            w.add_float32(gguf.Keys.Adapter.LORA_ALPHA, float(lora_alpha))
        else:
            w.add_type(gguf.GGUFType.MODEL)
            w.add_block_count(cfg["num_hidden_layers"])
            w.add_context_length(cfg["max_position_embeddings"])
            w.add_embedding_length(cfg["hidden_size"])
            w.add_feed_forward_length(cfg["intermediate_size"])
            w.add_head_count(cfg["num_attention_heads"])
            w.add_head_count_kv(cfg["num_key_value_heads"])
            rope = cfg.get("rope_parameters") or {}
            w.add_rope_freq_base(rope.get("rope_theta", cfg.get("rope_theta")))
            w.add_layer_norm_rms_eps(cfg["rms_norm_eps"])
            if cfg.get("head_dim") is not None:
                w.add_key_length(cfg["head_dim"])
                w.add_value_length(cfg["head_dim"])
            w.add_file_type(FTYPES[dtype])
            tokens, types, pre = vocab(hf_dir, cfg["vocab_size"])
            w.add_tokenizer_model("gpt2")
            w.add_tokenizer_pre(pre)
            w.add_token_list(tokens)
            w.add_token_types(types)
            gguf.SpecialVocab(hf_dir, load_merges=True).add_to_gguf(w)
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.close()
        return fields(gguf.GGUFReader(path))
    finally:
        os.remove(path)


def fields(reader):
    out = {}
    for name, f in reader.fields.items():
        if name.startswith("GGUF."):
            continue
        out[name] = ([t.name for t in f.types], f.contents())
    return out


def expected_tensors(named, dtype):
    """{gguf name: (type name, dims innermost first, bytes)} for float32 tensors {hf name: array}."""
    n_blocks = 1 + max(int(n.split(".")[2]) for n in named if n.startswith("model.layers."))
    tmap = gguf.get_tensor_name_map(gguf.MODEL_ARCH.QWEN2, n_blocks)
    out = {}
    for hf_name, data in named.items():
        name = tmap.get_name(hf_name, try_suffixes=(".weight", ".bias"))
        if name is None:
            raise SystemExit(f"gguf's Qwen2 name map has no name for {hf_name}")
        out[name] = typed(name, data, dtype)
    return out


def typed(name, data, dtype):
    qtype = QTYPES[dtype]
    if data.ndim <= 1 or name.endswith("_norm.weight"):
        qtype = gguf.GGMLQuantizationType.F32
    try:
        raw = gguf.quants.quantize(data, qtype)
    except gguf.QuantError:
        qtype = gguf.GGMLQuantizationType.F16
        raw = gguf.quants.quantize(data, qtype)
    return qtype.name, list(reversed(data.shape)), np.ascontiguousarray(raw).tobytes()


def compare(reader, want_kv, want_tensors, optional_keys):
    problems = []
    got_kv = fields(reader)
    for k, (types, value) in want_kv.items():
        if k not in got_kv:
            problems.append(f"missing key {k} (the converter writes {types} {short(value)})")
            continue
        gtypes, gvalue = got_kv[k]
        if gtypes != types:
            problems.append(f"key {k}: type {gtypes}, the converter writes {types}")
        elif not same(gvalue, value):
            problems.append(f"key {k}: {short(gvalue)}, the converter writes {short(value)}{first_diff(gvalue, value)}")
    for k in sorted(set(got_kv) - set(want_kv) - set(optional_keys)):
        problems.append(f"key {k} = {short(got_kv[k][1])}: the converter does not write it")
    align = got_kv.get(gguf.Keys.General.ALIGNMENT)
    if align is not None and (align[0] != ["UINT32"] or align[1] & (align[1] - 1)):
        problems.append(f"general.alignment {align}: must be a UINT32 power of two")
    got = {t.name: t for t in reader.tensors}
    for name in sorted(set(want_tensors) | set(got)):
        if name not in got:
            problems.append(f"missing tensor {name}")
            continue
        if name not in want_tensors:
            problems.append(f"tensor {name}: the converter does not write it")
            continue
        typ, dims, raw = want_tensors[name]
        t = got[name]
        if t.tensor_type.name != typ or [int(d) for d in t.shape] != dims:
            problems.append(f"tensor {name}: {t.tensor_type.name} {[int(d) for d in t.shape]}, "
                            f"the converter writes {typ} {dims}")
            continue
        data = np.asarray(t.data).tobytes()
        if data != raw:
            n = sum(a != b for a, b in zip(data, raw))
            problems.append(f"tensor {name} ({typ}): {n} of {len(raw)} bytes differ from gguf.quants.quantize's")
    return problems


def same(a, b):
    if isinstance(a, float) or isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-7)
    return a == b


def short(v):
    s = json.dumps(v, ensure_ascii=False) if not isinstance(v, str) else repr(v)
    return s if len(s) < 120 else s[:100] + f"… ({len(v)} items)" if isinstance(v, list) else s[:100] + "…"


def first_diff(a, b):
    if isinstance(a, list) and isinstance(b, list):
        for i, (x, y) in enumerate(zip(a, b)):
            if x != y:
                return f" (first difference at [{i}]: {x!r} vs {y!r})"
        return f" (lengths {len(a)} vs {len(b)})"
    return ""


def float_tensors(path_dir):
    named = {}
    for f in sorted(os.listdir(path_dir)):
        if f.endswith(".safetensors"):
            named.update({k: v.astype(np.float32) for k, v in load_file(os.path.join(path_dir, f)).items()})
    return named


def main():
    kind = sys.argv[1] if len(sys.argv) > 1 else ""
    if kind == "model" and len(sys.argv) == 6:
        path, hf_dir, dtype, out = sys.argv[2:6]
        with open(os.path.join(hf_dir, "config.json")) as f:
            cfg = json.load(f)
        want_kv = expected_kv("model", cfg, hf_dir, dtype)
        want_tensors = expected_tensors(float_tensors(hf_dir), dtype)
        # general.name comes from the model card or folder name in the converter; ours names the export.
        # general.quantization_version is written by the converter's metadata step, not checked here.
        optional = {gguf.Keys.General.NAME, gguf.Keys.General.ALIGNMENT, gguf.Keys.General.QUANTIZATION_VERSION}
    elif kind == "adapter" and len(sys.argv) == 7:
        path, adapter_dir, base_dir, dtype, out = sys.argv[2:7]
        with open(os.path.join(adapter_dir, "adapter_config.json")) as f:
            acfg = json.load(f)
        want_kv = expected_kv("adapter", None, base_dir, dtype, lora_alpha=acfg["lora_alpha"])
        named = {}
        for k, v in float_tensors(adapter_dir).items():
            # base_model.model.<module>.lora_A.weight -> <module>.weight, as get_base_tensor_name does
            base = k.replace("base_model.model.", "").replace(".lora_A.weight", ".weight").replace(".lora_B.weight",
                                                                                                   ".weight")
            named[(base, "a" if ".lora_A." in k else "b")] = v
        n_blocks = 1 + max(int(b.split(".")[2]) for b, _ in named)
        tmap = gguf.get_tensor_name_map(gguf.MODEL_ARCH.QWEN2, n_blocks)
        want_tensors = {}
        for (base, side), v in named.items():
            name = tmap.get_name(base, try_suffixes=(".weight",)) + f".lora_{side}"
            want_tensors[name] = typed(name, v, dtype)
        optional = {gguf.Keys.General.NAME, gguf.Keys.General.ALIGNMENT, gguf.Keys.General.FILE_TYPE,
                    gguf.Keys.General.QUANTIZATION_VERSION}
    else:
        raise SystemExit(__doc__)
    problems = compare(gguf.GGUFReader(path), want_kv, want_tensors, optional)
    with open(out, "w") as f:
        json.dump({"problems": problems, "keys": sorted(want_kv), "tensors": len(want_tensors)}, f)


if __name__ == "__main__":
    main()
