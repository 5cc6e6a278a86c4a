"""The run's settings as typed objects: one frozen dataclass per config section, built from the validated config
(``workflow/config.validate`` fills every default from the schema), so the library reads ``ppl.seqlen``, not
``cfg["perplexity"]["seqlen"]``. A section's fields are the schema's keys, one for one: an unknown or missing key
fails where the object is built. Each default equals the schema's (``tests/test_settings.py`` compares them), so
a test may build a section with only the fields it cares about. No imports beyond the standard library.

A job receives the sections it reads as plain data in its rule's params (editing one reruns only the jobs that
read it) and builds them here at its start: ``JobSettings.from_dict(snakemake.params.cfg)``,
``Stats.from_dict(snakemake.params.stats)``. ``Config.from_dict(validated)`` types the whole config.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
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
class ZCalibration(Section):
    """`quantization.weights.calibration`: the examples z: auto is chosen on."""

    corpus: str = "wikitext2_validation"
    examples: int = 500
    seed: int = 0


@dataclass(frozen=True)
class Table6(Section):
    """`quantization.weights.table6`: RTN with the super weights put back (and amplified)."""

    enabled: bool = True
    bits: int = 4
    method: str = "rtn_keep_sw"
    blocks: tuple[int | str, ...] = (64, 4096)
    factors: tuple[float, ...] = (1.5,)


@dataclass(frozen=True)
class WeightQuant(Section):
    """`quantization.weights`: block-wise RTN (Fig. 7, Table 6)."""

    NESTED = MappingProxyType({"calibration": ZCalibration, "table6": Table6})

    methods: tuple[str, ...] = ("rtn", "clip", "sw_aware", "rtn_keep_sw")
    bits: tuple[int, ...] = (4,)
    blocks: tuple[int | str, ...] = (64, 4096, 16384, 65536, 262144, 1048576, "per_channel", "per_tensor")
    z: float | str = 9
    z_candidates: tuple[float, ...] = (3, 5, 7, 9, 12, 16, 24)
    z_criterion: str = "output"
    calibration: ZCalibration = field(default_factory=ZCalibration)
    partial_block: str = "short"
    rounding: str = "official"
    clip_std: str = "unbiased"
    compute_dtype: str = "float32"
    table6: Table6 = field(default_factory=Table6)
    corpora: tuple[str, ...] = ("wikitext2", "c4")
    one_job: bool = False
    limit: int | None | Mapping[str, int | None] = None


@dataclass(frozen=True)
class SmoothQuantCalibration(Section):
    """`quantization.activations.calibration`: the text of SmoothQuant's per-channel scales."""

    corpus: str = "c4"
    samples: int = 16
    seqlen: int = 512
    seed: int = 42


@dataclass(frozen=True)
class ActQuant(Section):
    """`quantization.activations`: W8A8 (Tables 3, 4, 7)."""

    NESTED = MappingProxyType({"calibration": SmoothQuantCalibration})

    methods: tuple[str, ...] = ("fp", "naive", "sa_aware", "smoothquant")
    inputs: tuple[str, ...] = ("q", "k", "v", "gate", "up", "down")
    bmm: tuple[str, ...] = ("q", "k", "v")
    alpha: float = 0.85
    weight_granularity: str = "per_tensor"
    calibration: SmoothQuantCalibration = field(default_factory=SmoothQuantCalibration)
    corpora: tuple[str, ...] = ("wikitext2", "c4")
    limit: int | None | Mapping[str, int | None] = None


@dataclass(frozen=True)
class Quantization(Section):
    """`quantization`: the weight and activation sweeps (a job carries the one it runs)."""

    NESTED = MappingProxyType({"weights": WeightQuant, "activations": ActQuant})
    weights: WeightQuant = field(default_factory=WeightQuant)
    activations: ActQuant = field(default_factory=ActQuant)


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


@dataclass(frozen=True)
class Stopwords(Section):
    """`analysis.stopwords`: next-token stopword probability (Fig. 5)."""

    n_prompts: int = 500
    top_k: int = 30


@dataclass(frozen=True)
class Scaling(Section):
    """`analysis.scaling`: the super weights multiplied by each factor (Fig. 6, Table 5)."""

    factors: tuple[float, ...] = (0, 0.2, 0.5, 0.8, 1, 1.5, 2, 3)
    corpora: tuple[str, ...] = ("wikitext2",)
    limit: int | None = None


@dataclass(frozen=True)
class Propagation(Section):
    """`analysis.propagation`: how Fig. 4 removes the other outliers."""

    outliers: str = "ablation"
    amount: float = 5e-7


@dataclass(frozen=True)
class CaseStudy(Section):
    """`analysis.case_study`: top-k next tokens with and without the super weights."""

    prompts: tuple[str, ...] = ("Summer is hot. Winter is", "The capital of France is", "My favourite colour is")
    top_k: int = 5


@dataclass(frozen=True)
class Analysis(Section):
    """`analysis`: the mechanism analyses of the paper."""

    NESTED = MappingProxyType({"stopwords": Stopwords, "scaling": Scaling, "propagation": Propagation,
                               "case_study": CaseStudy})
    stopwords: Stopwords = field(default_factory=Stopwords)
    scaling: Scaling = field(default_factory=Scaling)
    propagation: Propagation = field(default_factory=Propagation)
    case_study: CaseStudy = field(default_factory=CaseStudy)


@dataclass(frozen=True)
class Skip(Section):
    """`mechanism.skip`: the super activation removed from the residual stream after its layer."""

    offsets: tuple[int, ...] = (1, 4)
    tokens: str = "max"
    n_prompts: int = 20


@dataclass(frozen=True)
class Significance(Section):
    """`mechanism.significance`: the super weights against random matched sets of other large weights."""

    n_sets: int = 19
    seed: int = 0
    matrix_pool: int = 100
    model_fraction: float = 1e-4


@dataclass(frozen=True)
class Mechanism(Section):
    """`mechanism`: the mechanism experiments (a job carries the keys it reads; the others keep their defaults)."""

    NESTED = MappingProxyType({"skip": Skip, "significance": Significance})
    experiments: tuple[str, ...] = ("hadamard", "skip", "significance")
    corpus: str = "wikitext2"
    seqlen: int = 256
    windows: int = 2
    skip: Skip = field(default_factory=Skip)
    significance: Significance = field(default_factory=Significance)


@dataclass(frozen=True)
class Stats(Section):
    """`stats`: the uncertainty of tables, figures and verdicts."""

    level: float = 0.95


@dataclass(frozen=True)
class Plots(Section):
    """`plots`: figure styling."""

    format: str = "png"
    dpi: int = 150
    width: float = 6.4
    height: float = 3.6
    colors: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({
        "input": "#1f77b4", "output": "#d62728", "original": "#1f77b4", "pruned": "#d62728", "marker": "#2ca02c",
        "stopword": "#ff7f0e", "other_outliers": "#9467bd", "all_removed": "#7f7f7f"}))
    log_scale: bool = True
    label_tokens: int = 20


@dataclass(frozen=True)
class Resources(Section):
    """`resources`: the throughput model of run-time requests (superweight.workflow.resources.Rates)."""

    gpu_tflops: float = 100
    cpu_gflops: float = 150
    load_mb_per_s: float = 200
    download_mb_per_s: float = 50
    margin: float = 2
    max_runtime: int = 2880


@dataclass(frozen=True)
class Model(Section):
    """`models.<name>`: where a model comes from and what the run knows of it (a job gets its load keys only)."""

    source: str
    id: str
    file: str | None = None
    revision: str | None = None
    dtype: str = "float32"
    params_b: float = 1.0
    super_weights: tuple[tuple[int, int, int], ...] | None = None
    paper: str | None = None
    scaling_factors: tuple[float, ...] | None = None
    base: str | None = None


@dataclass(frozen=True)
class EmergenceSweep(Section):
    """`emergence`: one model's training checkpoints, detection on each (config/emergence.yaml)."""

    name: str
    source: str
    id: str
    revisions: tuple[str, ...]
    reference: str | None = None
    steps: Mapping[str, int] | None = None
    dtype: str = "float32"
    params_b: float = 1.0
    corpus: str = "wikitext2"


@dataclass(frozen=True)
class Config(Section):
    """The whole validated config, every section typed (``models``: name -> Model)."""

    NESTED = MappingProxyType({"detection": Detection, "perplexity": Perplexity, "eval": Eval, "ablation": Ablation,
                               "analysis": Analysis, "mechanism": Mechanism, "quantization": Quantization,
                               "sequential": Sequential, "resources": Resources, "stats": Stats, "plots": Plots,
                               "emergence": EmergenceSweep})
    models: Mapping[str, Model]
    data_dir: str | None = "../shared/data"
    data_checksums: str = "compare"
    device: str = "cpu"
    run_models: tuple[str, ...] | None = None
    detection: Detection = field(default_factory=Detection)
    perplexity: Perplexity = field(default_factory=Perplexity)
    eval: Eval = field(default_factory=Eval)
    ablation: Ablation = field(default_factory=Ablation)
    analysis: Analysis = field(default_factory=Analysis)
    mechanism: Mechanism = field(default_factory=Mechanism)
    emergence: EmergenceSweep | None = None
    quantization: Quantization = field(default_factory=Quantization)
    sequential: Sequential | None = None
    resources: Resources = field(default_factory=Resources)
    stats: Stats = field(default_factory=Stats)
    plots: Plots = field(default_factory=Plots)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Config":
        models = MappingProxyType({m: Model.from_dict(v) for m, v in d["models"].items()})
        return replace(super().from_dict({**d, "models": {}}), models=models)

    def as_dict(self) -> dict:
        return {**super().as_dict(), "models": {m: v.as_dict() for m, v in self.models.items()}}
