"""Reference tokenization and chat templates: transformers' AutoTokenizer (the fast, Rust tokenizer).

    python parity/tokens.py REQUEST.json OUT.json

REQUEST: {"tokenizer": dir (or a .gguf file: the tokenizer transformers rebuilds from its metadata), "texts": [str, ...],
          "chats": [{"messages": [{"role", "content"}, ...], "add_generation_prompt": bool}, ...]}
OUT: {"fast": bool, "ids": [[id, ...], ...], "decoded": [str, ...] (decode of ids, special tokens kept),
      "chats": [{"text": str, "ids": [...]}, ...]}: text is apply_chat_template(tokenize=False), ids is
      apply_chat_template(tokenize=True).
"""

import sys

from transformers import AutoTokenizer

from common import pretrained_args, read_json, write_json


def main():
    req = read_json(sys.argv[1])
    args, kw = pretrained_args(req["tokenizer"])
    tok = AutoTokenizer.from_pretrained(*args, **kw)
    ids = [tok(t, add_special_tokens=False)["input_ids"] for t in req["texts"]]
    chats = []
    for c in req["chats"]:
        gen = c["add_generation_prompt"]
        text = tok.apply_chat_template(c["messages"], tokenize=False, add_generation_prompt=gen)
        cids = tok.apply_chat_template(c["messages"], tokenize=True, add_generation_prompt=gen, return_dict=False)
        chats.append({"text": text, "ids": list(cids)})
    write_json(sys.argv[2], {
        "fast": bool(tok.is_fast),
        "ids": ids,
        "decoded": [tok.decode(i, skip_special_tokens=False, clean_up_tokenization_spaces=False) for i in ids],
        "chats": chats,
    })


if __name__ == "__main__":
    main()
