"""What the parity reference scripts share: JSON in and out, loading a model (and an adapter) the way a user of
transformers and PEFT does, and catching every warning those libraries give while loading.

The scripts are run by the Go tests in this folder (see harness_test.go) with the venv of scripts/pyenv.sh; each
reads a JSON request and writes its answer to the paths it is given, and exits non-zero (with the reason on
stderr) when the reference can't be computed, which fails the Go test.
"""

import contextlib
import json
import logging
import warnings

import torch

torch.set_num_threads(2)  # the CI machine has 2 cores; more threads only fight over them


def read_json(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def write_json(path, obj):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, ensure_ascii=False)


class _Collect(logging.Handler):
    def __init__(self, out):
        super().__init__(logging.WARNING)
        self.out = out

    def emit(self, record):
        self.out.append(f"{record.name}: {record.getMessage()}")


@contextlib.contextmanager
def caught_warnings():
    """Collects every Python warning and every WARNING-or-worse log record of transformers and PEFT raised inside
    the block (PEFT reports missing and unexpected adapter keys through warnings.warn, transformers through its
    logger, which does not propagate to the root logger)."""
    got = []
    handler = _Collect(got)
    loggers = [logging.getLogger(n) for n in ("transformers", "peft", "")]
    for lg in loggers:
        lg.addHandler(handler)
    try:
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            yield got
        # Deprecation notices are about the libraries' own APIs (PEFT 0.21 calls a transformers method that 5.25
        # deprecates), not about the files being loaded: everything else counts.
        got.extend(f"{x.category.__name__}: {x.message}" for x in w
                   if not issubclass(x.category, (DeprecationWarning, PendingDeprecationWarning, FutureWarning)))
    finally:
        for lg in loggers:
            lg.removeHandler(handler)


def pretrained_args(path):
    """from_pretrained's arguments for a model folder, or for a GGUF file (its folder and gguf_file=its name:
    transformers then rebuilds the config and tokenizer from the metadata and dequantises the weights)."""
    import os

    if path.endswith(".gguf"):
        return (os.path.dirname(path),), {"gguf_file": os.path.basename(path)}
    return (path,), {}


def load_model(model_dir, adapter_dir=None):
    """Loads model_dir (a folder, or a .gguf file) in float32 (eval mode) with AutoModelForCausalLM and, when
    adapter_dir is set, wraps it with PeftModel.from_pretrained. Returns (model, warnings raised while loading)."""
    from transformers import AutoModelForCausalLM

    args, kw = pretrained_args(model_dir)
    with caught_warnings() as got:
        model = AutoModelForCausalLM.from_pretrained(*args, dtype=torch.float32, **kw)
        if adapter_dir:
            from peft import PeftModel

            model = PeftModel.from_pretrained(model, adapter_dir)
    if adapter_dir:
        got.extend(key_mismatch(model, adapter_dir))
    model.eval()
    return model, got


def key_mismatch(model, adapter_dir):
    """The adapter file's keys against the ones PEFT saves for the loaded model. PEFT warns about missing keys but
    (in 0.21) silently drops unexpected ones, so both directions are checked here."""
    import os

    from peft import get_peft_model_state_dict
    from safetensors import safe_open

    with safe_open(os.path.join(adapter_dir, "adapter_model.safetensors"), "pt") as f:
        have = set(f.keys())
    want = set(get_peft_model_state_dict(model).keys())
    out = []
    if want - have:
        out.append(f"missing adapter keys: {sorted(want - have)}")
    if have - want:
        out.append(f"unexpected adapter keys: {sorted(have - want)}")
    return out
