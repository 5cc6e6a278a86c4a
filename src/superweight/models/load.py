"""Model sources (Hub id, local directory, GGUF file, GGUF inside an installed package) and loading.

``prepare_model`` makes any source a directory ``load_model`` reads, once: a Hub model's files are fetched into the
Hugging Face cache and linked from it (nothing copied); a GGUF is dequantized and written as safetensors once (no
re-dequantizing in every job).
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

import torch

from superweight.models.sources import SOURCES, ModelSourceError, ModelSpec, package_file, resolve  # noqa: F401 (re-exported)

log = logging.getLogger(__name__)

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


HUB_FILES = ["*.json", "*.safetensors", "*.model", "*.txt", "*.tiktoken", "*.py"]  # weights, config, tokenizer


def link_hub_model(spec: ModelSpec, out_dir: str | Path, dtype: str = "float32", cache_dir: str | None = None) -> Path:
    """Fetch a Hub model's files into the Hugging Face cache ($HF_HUB_CACHE, or HF_HOME's) once and link each from
    ``out_dir``: jobs load the cached checkpoint in their configured dtype; no weight is loaded or written here.
    (On a cluster the cache must be on a filesystem every node sees.) ``cache_dir``: another cache than the
    environment's."""
    from huggingface_hub import snapshot_download
    from transformers import AutoConfig

    from superweight.models.adapters import get_adapter

    kw = {"revision": spec.revision} if spec.revision else {}
    kw |= {"cache_dir": str(cache_dir)} if cache_dir else {}
    try:
        get_adapter(AutoConfig.from_pretrained(spec.id, **kw).model_type)  # an unsupported family: before the weights
        snapshot = Path(snapshot_download(spec.id, allow_patterns=HUB_FILES, **kw))
        if not any(snapshot.glob("*.safetensors")):  # an older checkpoint with PyTorch pickles only
            snapshot = Path(snapshot_download(spec.id, allow_patterns=[*HUB_FILES, "*.bin"], **kw))
    except (OSError, ValueError) as e:
        from superweight.models.adapters import UnsupportedModelError

        if isinstance(e, UnsupportedModelError):
            raise
        raise ModelSourceError(f"cannot load hub model {spec.id!r}: {_first_line(e)}. Fix: check the model's `id` "
                               "and `revision`, and that the Hub is reachable (HF_HUB_OFFLINE unset; a gated model "
                               "such as meta-llama's needs its licence accepted and a token: `hf auth login`) or the "
                               "model is in the Hugging Face cache") from None
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for f in sorted(snapshot.iterdir()):
        if f.is_file():
            (out / f.name).symlink_to(f.absolute())
    (out / "source.json").write_text(json.dumps({"source": spec.source, "id": spec.id, "file": spec.file,
                                                 "revision": spec.revision, "dtype": dtype,
                                                 "linked_from": str(snapshot)}, indent=2))
    log.info("linked %d files of %s from %s (no copy)", sum(1 for _ in snapshot.iterdir()), spec.id, snapshot)
    return out


def prepare_model(spec: ModelSpec, out_dir: str | Path, dtype: str = "float32") -> Path:
    """Make ``out_dir`` a directory ``load_model`` reads: a Hub model linked from the Hugging Face cache
    (link_hub_model); any other source loaded and saved as safetensors + tokenizer.

    A source that cannot be loaded raises ModelSourceError and an unsupported family UnsupportedModelError, each
    with a one-line message naming the fix; the family is checked from the config before any weights download."""
    from superweight.models.adapters import get_adapter

    if spec.source == "hub":
        return link_hub_model(spec, out_dir, dtype)
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
    from superweight.models import meter

    with meter.loading():
        tok = AutoTokenizer.from_pretrained(path)
        model = AutoModelForCausalLM.from_pretrained(path, dtype=DTYPES[dtype]).to(device)
    meter.attach(model)  # the job's record of what it forwarded (runlog writes it at exit)
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
