"""Reference greedy generation: model.generate(do_sample=False) of transformers (and PEFT), one prompt at a time.

    python parity/generate.py REQUEST.json OUT.json

REQUEST: {"cases": [{"name": str, "model": dir, "adapter": dir or null, "prompts": [[id, ...], ...],
                     "max_new_tokens": int, "stop_at": int}]}
For each prompt two runs: "free", with the model's own eos (generation_config.json), and "stopped", with the eos
list extended by the token the free run produced at index stop_at, so that greedy decoding surely meets an eos
(at that token's first occurrence) and the way it stops is compared too.
OUT: {"cases": {name: [{"free": {"eos": [...], "tokens": [...]}, "stopped": {...}}, ...]}}; tokens are the new
tokens only, the eos that ended a run included, as generate() returns them.
"""

import sys

import torch

from common import load_model, read_json, write_json

PAD = 151643


def greedy(model, prompt, max_new, eos):
    ids = torch.tensor([prompt])
    with torch.no_grad():
        out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), do_sample=False,
                             max_new_tokens=max_new, eos_token_id=eos, pad_token_id=PAD)
    return out[0, len(prompt):].tolist()


def main():
    req = read_json(sys.argv[1])
    out = {}
    for case in req["cases"]:
        model, _ = load_model(case["model"], case.get("adapter"))
        eos = model.generation_config.eos_token_id
        eos = list(eos) if isinstance(eos, (list, tuple)) else [eos]
        results = []
        for prompt in case["prompts"]:
            free = greedy(model, prompt, case["max_new_tokens"], eos)
            k = min(case["stop_at"], len(free) - 1)
            if free[k] in eos:
                sys.exit(f"{case['name']}: the free run {free} ended before index {case['stop_at']}")
            stop_eos = eos + [free[k]]
            results.append({"free": {"eos": eos, "tokens": free},
                            "stopped": {"eos": stop_eos, "tokens": greedy(model, prompt, case["max_new_tokens"],
                                                                           stop_eos)}})
        out[case["name"]] = results
    write_json(sys.argv[2], {"cases": out})


if __name__ == "__main__":
    main()
