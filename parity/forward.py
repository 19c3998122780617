"""Reference logits: a right-padded batch through transformers (and PEFT) in float32.

    python parity/forward.py REQUEST.json OUT.safetensors OUT.json

REQUEST: {"cases": [{"name": str, "model": dir, "adapter": dir or null, "rows": [[id, ...], ...]}]}
OUT.safetensors holds, per case, "<name>" = logits [rows, longest, vocab] (padding positions are whatever
transformers computes there; only real positions are compared). OUT.json: {"warnings": {name: [message, ...]}},
everything transformers and PEFT warned about while loading that case's model and adapter.
"""

import sys

import torch
from safetensors.torch import save_file

from common import load_model, read_json, write_json

PAD = 151643  # <|endoftext|>, Qwen2's pad token


def main():
    req_path, out_tensors, out_json = sys.argv[1:4]
    req = read_json(req_path)
    tensors, warned = {}, {}
    for case in req["cases"]:
        model, warned[case["name"]] = load_model(case["model"], case.get("adapter"))
        rows = case["rows"]
        longest = max(len(r) for r in rows)
        ids = torch.full((len(rows), longest), PAD, dtype=torch.long)
        mask = torch.zeros((len(rows), longest), dtype=torch.long)
        for i, r in enumerate(rows):
            ids[i, :len(r)] = torch.tensor(r)
            mask[i, :len(r)] = 1
        with torch.no_grad():
            logits = model(input_ids=ids, attention_mask=mask).logits
        tensors[case["name"]] = logits.float().contiguous()
    save_file(tensors, out_tensors)
    write_json(out_json, {"warnings": warned})


if __name__ == "__main__":
    main()
