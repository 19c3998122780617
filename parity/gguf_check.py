"""Holds a GGUF file QwenTune wrote against what llama.cpp's converters write for the same model, using the gguf
package's own tables (gguf.Keys, the Qwen2 tensor name map, gguf.quants) rather than hand-written lists.

    python parity/gguf_check.py REQUEST.json OUT.json

REQUEST: {"kind": "model", "hf_dir": dir, "files": [{"path": gguf, "dtype": "f32"|"f16"|"bf16"|"q8_0"}, ...]}
         (convert_hf_to_gguf.py --outtype DTYPE of hf_dir, the Hugging Face folder the converter would read: for
         a merged export, the merged float32 folder QwenTune wrote), or
         {"kind": "adapter", "adapter": dir, "base": dir, "files": [...]} (convert_lora_to_gguf.py --base). The expected metadata is made by driving gguf.GGUFWriter with the calls the converter makes
(TextModel.set_gguf_parameters, _set_vocab_gpt2 with get_vocab_base and gguf.SpecialVocab, LoraModel.set_type /
set_gguf_parameters in llama.cpp's conversion/base.py and convert_lora_to_gguf.py) and taking what the writer
holds, so key names, value types and values all come from the gguf package. Tensors: names from
gguf.get_tensor_name_map(QWEN2), shapes reversed, types by the converter's rule (1-D and *_norm.weight F32, the
rest the outtype, a Q8_0 tensor whose rows are not a multiple of 32 falls back to F16) and data from
gguf.quants.quantize of the float32 weights, byte for byte.

OUT: {"files": [{"path", "problems": [str, ...], "keys": [...], "tensors": n}, ...]}; the Go test fails on any
problem.
"""

import hashlib
import json
import math
import os
import sys

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


def expected_kv(kind, cfg, hf_dir, lora_alpha=None):
    """The converter's metadata as gguf.GGUFWriter holds it after the converter's calls: {key: (types, value)},
    types as GGUFReader names them ([type] or ["ARRAY", element type]). general.file_type is left to the caller."""
    w = gguf.GGUFWriter(None, gguf.MODEL_ARCH_NAMES[gguf.MODEL_ARCH.QWEN2])
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
        tokens, types, pre = vocab(hf_dir, cfg["vocab_size"])
        w.add_tokenizer_model("gpt2")
        w.add_tokenizer_pre(pre)
        w.add_token_list(tokens)
        w.add_token_types(types)
        gguf.SpecialVocab(hf_dir, load_merges=True).add_to_gguf(w)
    out = {}
    for name, v in w.kv_data[0].items():
        types = [v.type.name]
        if v.type == gguf.GGUFValueType.ARRAY:  # the writer picks the element type as it writes, like this
            types.append((v.sub_type or gguf.GGUFValueType.get_type(v.value[0])).name)
        value = v.value
        if isinstance(value, (list, tuple)):
            value = [int(x) if isinstance(x, int) else x for x in value]
        elif isinstance(value, int) and not isinstance(value, bool):
            value = int(value)
        out[name] = (types, value)
    return out


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
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    with open(sys.argv[1]) as f:
        req = json.load(f)
    if req["kind"] == "model":
        with open(os.path.join(req["hf_dir"], "config.json")) as f:
            cfg = json.load(f)
        base_kv = expected_kv("model", cfg, req["hf_dir"])
        named = float_tensors(req["hf_dir"])
        # general.name comes from the model card or folder name in the converter; ours names the export.
        # general.quantization_version is written by the converter's metadata step, not checked here.
        # tokenizer.ggml.add_bos_token: SpecialVocab writes it only when tokenizer_config.json sets add_bos_token
        # (Qwen2's does not); QwenTune writes false, Qwen2's real setting, so llama.cpp never guesses.
        optional = {gguf.Keys.General.NAME, gguf.Keys.General.ALIGNMENT, gguf.Keys.General.QUANTIZATION_VERSION,
                    gguf.Keys.Tokenizer.ADD_BOS}
    elif req["kind"] == "adapter":
        with open(os.path.join(req["adapter"], "adapter_config.json")) as f:
            acfg = json.load(f)
        base_kv = expected_kv("adapter", None, req["base"], lora_alpha=acfg["lora_alpha"])
        named = float_tensors(req["adapter"])
        optional = {gguf.Keys.General.NAME, gguf.Keys.General.ALIGNMENT, gguf.Keys.General.FILE_TYPE,
                    gguf.Keys.General.QUANTIZATION_VERSION}
    else:
        raise SystemExit(f"unknown kind {req['kind']!r}")
    results = []
    for f in req["files"]:
        want_kv = dict(base_kv)
        if req["kind"] == "model":
            want_kv[gguf.Keys.General.FILE_TYPE] = (["UINT32"], int(FTYPES[f["dtype"]]))
            want_tensors = expected_tensors(named, f["dtype"])
        else:
            want_tensors = adapter_tensors(named, f["dtype"])
        problems = compare(gguf.GGUFReader(f["path"]), want_kv, want_tensors, optional)
        results.append({"path": f["path"], "problems": problems, "keys": sorted(want_kv), "tensors": len(want_tensors)})
    with open(sys.argv[2], "w") as out:
        json.dump({"files": results}, out)


def adapter_tensors(named, dtype):
    """convert_lora_to_gguf.py: base_model.model.<module>.lora_A.weight becomes <gguf name of module>.weight.lora_a
    (get_base_tensor_name, then the model's tensor map), typed like any tensor of the outtype."""
    pairs = {}
    for k, v in named.items():
        base = k.replace("base_model.model.", "").replace(".lora_A.weight", ".weight").replace(".lora_B.weight", ".weight")
        pairs[(base, "a" if ".lora_A." in k else "b")] = v
    n_blocks = 1 + max(int(b.split(".")[2]) for b, _ in pairs)
    tmap = gguf.get_tensor_name_map(gguf.MODEL_ARCH.QWEN2, n_blocks)
    out = {}
    for (base, side), v in pairs.items():
        name = tmap.get_name(base, try_suffixes=(".weight",)) + f".lora_{side}"
        out[name] = typed(name, v, dtype)
    return out


if __name__ == "__main__":
    main()
