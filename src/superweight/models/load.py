"""Model sources (Hub id, local directory, GGUF file, GGUF inside an installed package) and loading.

``prepare_model`` turns any source into a local safetensors + tokenizer directory once; every later
job calls ``load_model`` on that directory (fast, no re-dequantizing).
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

import torch

from superweight.models.sources import SOURCES, ModelSourceError, ModelSpec, package_file, resolve  # noqa: F401 (re-exported)

log = logging.getLogger(__name__)

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def prepare_model(spec: ModelSpec, out_dir: str | Path, dtype: str = "float32") -> Path:
    """Load a model from any source and save it as safetensors + tokenizer under ``out_dir``.

    A source that cannot be loaded raises ModelSourceError and an unsupported family UnsupportedModelError, each
    with a one-line message naming the fix; the family is checked from the config before any weights download."""
    from superweight.models.adapters import get_adapter

    model, tok = _from_source(spec, dtype)
    get_adapter(model)  # GGUF: the family is known only once transformers has mapped its architecture
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tok.save_pretrained(out)
    (out / "source.json").write_text(json.dumps({"source": spec.source, "id": spec.id, "file": spec.file,
                                                 "revision": spec.revision, "dtype": dtype}, indent=2))
    return out


def _first_line(e: Exception) -> str:
    return next((line.strip().rstrip(".") for line in str(e).splitlines() if line.strip()), type(e).__name__)


def _from_source(spec: ModelSpec, dtype: str):
    """(model, tokenizer) from any source; a dequantized GGUF model loses its quantizer (saves as safetensors)."""
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    from superweight.models.adapters import get_adapter

    where, gguf_file = resolve(spec)
    kw = {"gguf_file": gguf_file} if gguf_file else {}
    if spec.revision and spec.source == "hub":
        kw["revision"] = spec.revision
    log.info("loading %s (%s)%s", spec.id, spec.source, f" gguf={gguf_file}" if gguf_file else "")
    try:
        if not gguf_file:  # the family first: an unsupported one fails before any weights are fetched
            get_adapter(AutoConfig.from_pretrained(where, **kw).model_type)
        tok = AutoTokenizer.from_pretrained(where, **kw)
        model = AutoModelForCausalLM.from_pretrained(where, dtype=DTYPES[dtype], **kw)
    except (OSError, ValueError) as e:
        from superweight.models.adapters import UnsupportedModelError

        if isinstance(e, UnsupportedModelError):
            raise
        rev = f" at revision {spec.revision!r}" if kw.get("revision") else ""
        fix = ("check the model's `id` (a Hub id such as org/name) and `revision`, and that the Hub is reachable "
               "(HF_HUB_OFFLINE unset) or the model is in the local Hugging Face cache" if spec.source == "hub"
               else "check that the model's `id`/`file` point at a model transformers can load")
        raise ModelSourceError(f"cannot load {spec.source} model {spec.id!r}{rev}: {_first_line(e)}. Fix: {fix}.") from None
    if gguf_file:
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
    return model, tok


def load_model(path: str | Path, dtype: str = "float32", device: str = "cpu"):
    """(model, tokenizer) from a prepared directory, in eval mode."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if dtype not in DTYPES:
        raise ValueError(f"unknown dtype {dtype!r}; use one of {', '.join(DTYPES)}")
    path = Path(path)
    if not (path / "config.json").is_file():
        raise ModelSourceError(f"{path} is not a prepared model directory (no config.json); run the prepare_model rule first")
    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=DTYPES[dtype]).to(device)
    model.eval()
    return model, tok


def load_spec(spec: ModelSpec, dtype: str = "float32", device: str = "cpu"):
    """(model, tokenizer) straight from a spec (a Hub revision included), in eval mode, nothing saved."""
    model, tok = _from_source(spec, dtype)
    return model.to(device).eval(), tok


def load_any(text: str, dtype: str = "float32", device: str = "cpu"):
    """(model, tokenizer) straight from a command-line source (no prepared directory)."""
    model, tok = _from_source(ModelSpec.guess(text), dtype)
    return model.to(device).eval(), tok
