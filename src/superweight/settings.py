"""The run's settings as typed objects: one frozen dataclass per config section, built from the validated config
(``workflow/config.validate`` fills every default from the schema), so the library reads ``ppl.seqlen``, not
``cfg["perplexity"]["seqlen"]``. A section's fields are the schema's keys, one for one: an unknown or missing key
fails where the object is built. Each default equals the schema's (``tests/test_settings.py`` compares them), so
a test may build a section with only the fields it cares about. No imports beyond the standard library.

A job receives the sections it reads as plain data in its rule's params (editing one reruns only the jobs that
read it) and builds them here at its start: ``JobSettings.from_dict(snakemake.params.cfg)``.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from types import MappingProxyType
from typing import Any, Mapping


def _frozen(value):
    """Lists as tuples and mappings read-only, so a section compares and hashes by value and is never edited."""
    if isinstance(value, Mapping):
        return MappingProxyType({k: _frozen(v) for k, v in value.items()})
    if isinstance(value, (list, tuple)):
        return tuple(_frozen(v) for v in value)
    return value


def plain(value):
    """A section's value as the config writes it (tuples as lists, read-only mappings as dicts): for records."""
    if isinstance(value, Mapping):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return [plain(v) for v in value]
    return value


class Section:
    """A config section built from its validated dict: every key a field, nested sections built in turn."""

    NESTED: Mapping[str, type] = MappingProxyType({})

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Section":
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise TypeError(f"{cls.__name__}: unknown key(s) {', '.join(unknown)} (settings.py lists the schema's)")
        return cls(**{k: cls.NESTED[k].from_dict(v) if k in cls.NESTED and v is not None else _frozen(v)
                      for k, v in d.items()})

    def as_dict(self) -> dict:
        return {f.name: getattr(self, f.name).as_dict() if isinstance(getattr(self, f.name), Section)
                else plain(getattr(self, f.name)) for f in fields(self)}


@dataclass(frozen=True)
class Perplexity(Section):
    """`perplexity`: GPTQ-protocol windows of each corpus."""

    corpora: tuple[str, ...] = ("wikitext2", "c4")
    seqlen: int = 512
    windows: Mapping[str, int | None] = field(default_factory=lambda: MappingProxyType({"wikitext2": 8, "c4": 8}))
    window_order: str = "spread"  # first: GPTQ's and the paper's; spread: one per article, across the corpus
    batch_size: int = 1
    c4_docs: int = 1100

    def windows_of(self, corpus: str) -> int | None:
        """The windows scored on ``corpus`` (None: every window)."""
        return self.windows.get(corpus)


@dataclass(frozen=True)
class Eval(Section):
    """`eval` (a job's: ``limit`` already resolved for its experiment kind, ``scoring.limits.eval_for``)."""

    tasks: tuple[str, ...] = ("arc_challenge", "arc_easy", "hellaswag", "lambada_openai", "piqa", "sciq", "winogrande")
    limit: int | None | Mapping[str, int | None] = 40
    batch_size: int = 8
    add_bos_token: bool = False
    backend: str = "cached"


@dataclass(frozen=True)
class PruneNonSW(Section):
    """`ablation.prune_nonsw`: which other large weights the prune_nonsw condition zeroes."""

    rule: str = "fraction"
    amount: float = 1e-6


@dataclass(frozen=True)
class Ablation(Section):
    """`ablation`: the paper's section 3.2 conditions."""

    NESTED = MappingProxyType({"prune_nonsw": PruneNonSW})
    conditions: tuple[str, ...] = ("original", "prune_sw", "prune_nonsw", "prune_sw_restore_sa")
    prune_nonsw: PruneNonSW = field(default_factory=PruneNonSW)
    restore_tokens: str = "max"


@dataclass(frozen=True)
class Sequential(Section):
    """`sequential`: conditions scored in looks, stopping once their comparisons are decided."""

    looks: tuple[float, ...]
    alpha: float = 0.05
    spending: str = "obf"
    compare: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True)
class WeightQuant(Section):
    """`quantization.weights`: block-wise RTN (Fig. 7, Table 6)."""

    methods: tuple[str, ...] = ("rtn", "clip", "sw_aware", "rtn_keep_sw")
    bits: tuple[int, ...] = (4,)
    blocks: tuple[int | str, ...] = (64, 4096, 16384, 65536, 262144, 1048576, "per_channel", "per_tensor")
    z: float | str = 9
    z_candidates: tuple[float, ...] = (3, 5, 7, 9, 12, 16, 24)
    z_criterion: str = "output"
    calibration: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    partial_block: str = "short"
    rounding: str = "official"
    clip_std: str = "unbiased"
    compute_dtype: str = "float32"
    table6: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    corpora: tuple[str, ...] = ("wikitext2", "c4")
    one_job: bool = False
    limit: int | None | Mapping[str, int | None] = None


@dataclass(frozen=True)
class ActQuant(Section):
    """`quantization.activations`: W8A8 (Tables 3, 4, 7)."""

    methods: tuple[str, ...] = ("fp", "naive", "sa_aware", "smoothquant")
    inputs: tuple[str, ...] = ("q", "k", "v", "gate", "up", "down")
    bmm: tuple[str, ...] = ("q", "k", "v")
    alpha: float = 0.85
    weight_granularity: str = "per_tensor"
    calibration: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    corpora: tuple[str, ...] = ("wikitext2", "c4")
    limit: int | None | Mapping[str, int | None] = None


@dataclass(frozen=True)
class Quantization(Section):
    """`quantization`: the weight and activation sweeps (a job carries the one it runs)."""

    NESTED = MappingProxyType({"weights": WeightQuant, "activations": ActQuant})
    weights: WeightQuant | None = None
    activations: ActQuant | None = None


@dataclass(frozen=True)
class Confirm(Section):
    """`detection.confirm`: a candidate is confirmed when zeroing it multiplies perplexity by ``factor``."""

    mode: str = "joint"
    factor: float = 2.0
    corpus: str = "wikitext2_validation"
    seqlen: int = 512
    windows: int = 4
    batch_size: int = 4


@dataclass(frozen=True)
class Detection(Section):
    """`detection`: the data-free spike rule, iterated, and confirmation on text."""

    NESTED = MappingProxyType({"confirm": Confirm})
    prompt: str = "Apple Inc. is a worldwide tech company."
    rule: str = "absolute"
    threshold: float = 50
    ratio: float = 1000
    column: str = "contribution"
    max_iters: int = 3
    use: str = "detected"
    confirm: Confirm = field(default_factory=Confirm)


@dataclass(frozen=True)
class Emergence(Section):
    """What one checkpoint of the emergence sweep reads: where its checkpoints come from (`emergence`'s source,
    id, dtype, steps and corpus) and the run's `detection`. The sweep's revisions are the rule's wildcards."""

    NESTED = MappingProxyType({"detection": Detection})
    source: str
    id: str
    detection: Detection
    dtype: str = "float32"
    steps: Mapping[str, int] | None = None
    corpus: str = "wikitext2"


@dataclass(frozen=True)
class JobSettings(Section):
    """What one scoring job reads (its rule's ``params.cfg``): perplexity and eval always, the rest when its kind
    needs them."""

    NESTED = MappingProxyType({"perplexity": Perplexity, "eval": Eval, "ablation": Ablation,
                               "sequential": Sequential, "quantization": Quantization})
    perplexity: Perplexity = field(default_factory=Perplexity)
    eval: Eval = field(default_factory=Eval)
    ablation: Ablation | None = None
    sequential: Sequential | None = None
    quantization: Quantization = field(default_factory=Quantization)
