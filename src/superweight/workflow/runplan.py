"""The run plan: the experiments a validated config runs, built once at start (no torch).

Each experiment has its kind, model, spec and result file, the corpora it scores and its evaluation settings (its
kind's documents per task resolved once, ``scoring.limits``), and where its scores come from (scored, or read from
the ablation condition with the same model: ``reuse``). The workflow's rules (their outputs, eval params and
resource estimates), the reuse checks, the targets of ``all`` and the files the `claims` rule waits for are read
from here, so each result path is spelled once (``PATTERNS``) and each setting resolved once.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Mapping

from superweight import paths
from superweight.settings import Eval, Perplexity
from superweight.workflow import resources as R

# every result file of an experiment (the rules' output patterns): superweight.paths under results/{model}/
PATTERNS = {**{kind: f"results/{{model}}/{p}" for kind, p in paths.SCORES.items()}, "z": f"results/{{model}}/{paths.Z}",
            "detect": f"results/{{model}}/{paths.DETECT}"}


@dataclass(frozen=True)
class Experiment:
    """One scored experiment of one model: its kind, spec (condition, factor, setting) and result path."""

    kind: str  # ablation | scaling | wquant | aquant
    model: str
    spec: dict
    path: str
    reuse: str | None = None  # the ablation condition whose scores it reads instead of scoring (same model)
    corpora: tuple = ()  # the corpora its perplexity is scored on
    eval: Eval | None = None  # its kind's `eval`, documents per task resolved (scoring.limits.eval_for)
    work: R.Work | None = None  # what its job does, which its resource request is estimated from (``work``)


def _readers(rel: str, kind: str | None) -> list[str]:
    """The claims whose declarations cover a result (its path under results/{model}/, its experiment kind)."""
    from superweight.report.claims_evaluate import CLAIMS  # the registry: each claim declares what it reads

    return [c.id for c in CLAIMS if rel in c.inputs or rel in c.uses or kind in c.reads]


def work(kind: str, spec: dict, ppl: Perplexity, corpora, ev: Eval, restore_tokens: str) -> R.Work:
    """The work of a job scoring one experiment: perplexity on its corpora (twice for SmoothQuant, which
    calibrates on them first), the zero-shot tasks at its documents with the backend it scores with
    (scoring.backends), weight quantization's extra memory, W8A8's kept copy of the weights it changes."""
    from superweight.scoring.backends import eval_backend

    return R.scoring(ppl, corpora, ev, backend=eval_backend(kind, spec, ev.backend, restore_tokens),
                     passes=2 if kind == "aquant" and spec.get("method") == "smoothquant" else 1,
                     quantize=kind == "wquant", keeps_weights=kind == "aquant")


@dataclass(frozen=True)
class WquantSetting:
    """One weight-quantization setting: Fig. 7's sweep, or Table 6's (``factor``: the restored super weights')."""

    bits: int
    method: str
    block: str
    factor: float | None = None

    def pattern(self) -> str:
        if self.factor is None:
            return PATTERNS["wquant"].format(model="{model}", bits=self.bits, wmethod=self.method, block=self.block)
        return PATTERNS["wquant_restored"].format(model="{model}", bits=self.bits, wmethod=self.method,
                                                  block=self.block, factor=f"{self.factor:g}")


def factor_name(f) -> str:
    """A scaling factor as paths write it: 1 -> ``1``, 1.5 -> ``1.5``."""
    return f"{float(f):g}"


def scaling_factors(cfg: dict, model: str) -> list[str]:
    """The model's scaling grid: its own `scaling_factors` (a paper model's grid from Fig. 6), else
    `analysis.scaling.factors`."""
    own = cfg["models"][model].get("scaling_factors")
    return [factor_name(f) for f in (own if own is not None else cfg["analysis"]["scaling"]["factors"])]


def wquant_settings(cfg: dict) -> list[WquantSetting]:
    """Every weight-quantization setting the run scores: Fig. 7's sweep and, when enabled, Table 6's plain RTN and
    restored super weights (at their value, and times each other factor)."""
    wq = cfg["quantization"]["weights"]
    out = [WquantSetting(b, m, str(blk)) for b in wq["bits"] for m in wq["methods"] for blk in wq["blocks"]]
    return list(dict.fromkeys(out + (table6_settings(cfg) if wq["table6"]["enabled"] else [])))


def table6_settings(cfg: dict) -> list[WquantSetting]:
    """Table 6's settings per block: plain RTN, the super weights restored at their value, and amplified."""
    t = cfg["quantization"]["weights"]["table6"]
    out = []
    for blk in t["blocks"]:
        out += [WquantSetting(t["bits"], "rtn", str(blk)), WquantSetting(t["bits"], t["method"], str(blk))]
        out += [WquantSetting(t["bits"], t["method"], str(blk), float(factor_name(f)))
                for f in t["factors"] if float(f) != 1.0]
    return out


@dataclass(frozen=True)
class RunPlan:
    """What a run runs: its models and their experiments (``experiments``), the mechanism experiments and the
    emergence sweep's files, and the figure format."""

    models: tuple
    conditions: tuple
    experiments: tuple
    fmt: str
    mechanism: tuple = ()  # `mechanism.experiments`
    wquant_bits: tuple = ()  # Fig. 7's bit widths (one figure each); empty when no method is swept
    wquant: tuple = ()  # every weight-quantization setting (WquantSetting), Fig. 7's and Table 6's, in job order
    table6: tuple = ()  # Table 6's settings (WquantSetting); empty when it is not enabled
    emergence_outputs: tuple = ()  # the sweep's figure and table (``emergence_files``)
    emergence_raw: tuple = ()  # the raw results they are made from
    z_auto: bool = False  # clipping methods read a tuned z per model, bits and block
    # per kind: `eval` with its limit resolved, as plain data in the config's key order (Snakemake compares a
    # rule's params by their repr: the same dict, key for key, reruns nothing)
    eval_params: Mapping[str, dict] = field(default_factory=lambda: MappingProxyType({}))
    perplexity: Perplexity | None = None
    corpora: Mapping[str, tuple] = field(default_factory=lambda: MappingProxyType({}))  # per kind
    restore_tokens: str = "max"

    def work(self, kind: str, spec: dict) -> R.Work:
        """The work of a job scoring ``kind`` with ``spec`` (a rule's wildcards give the spec): module ``work``."""
        return work(kind, spec, self.perplexity, self.corpora[kind], self.eval_settings(kind), self.restore_tokens)

    def eval_for(self, kind: str) -> dict:
        """The `eval` section ``kind``'s jobs score with (a rule's params), its documents per task resolved."""
        return dict(self.eval_params[kind])

    def eval_settings(self, kind: str) -> Eval:
        """The same, typed (resource estimates)."""
        return Eval.from_dict(self.eval_params[kind])

    def of(self, kind: str, model: str | None = None) -> list[Experiment]:
        return [e for e in self.experiments if e.kind == kind and model in (None, e.model)]

    def paths(self, kind: str, model: str | None = None) -> list[str]:
        return [e.path for e in self.of(kind, model)]

    def factors(self, model: str) -> list[str]:
        """The model's scaling grid as paths write it."""
        return [factor_name(e.spec["factor"]) for e in self.of("scaling", model)]

    def reused(self, kind: str) -> dict[str, str]:
        """{the path's name (a factor, a method): the ablation condition} for the experiments read, not scored."""
        out = {}
        for e in self.of(kind):
            if e.reuse:
                out[factor_name(e.spec["factor"]) if kind == "scaling" else e.spec["method"]] = e.reuse
        return out

    def mechanism_raw(self) -> list[str]:
        return [f"results/{m}/mechanism/{f}" for m in self.models for exp in self.mechanism
                for f in (f"{exp}.csv", f"{exp}.json", *(["hadamard_channels.csv"] if exp == "hadamard" else []))]

    def mechanism_outputs(self) -> list[str]:
        return [f"results/{m}/mechanism/{exp}{ext}" for m in self.models for exp in self.mechanism
                for ext in (f".{self.fmt}", "_table.md")]

    def z_files(self, model: str, settings=None) -> list[str]:
        """The tuned z files (`z: auto`) the clipping settings of ``model`` read, sorted, once each."""
        from superweight.quant.methods import CLIPPING_METHODS

        if not self.z_auto:
            return []
        wq = [e.spec for e in self.of("wquant", model)] if settings is None else settings
        return sorted({PATTERNS["z"].format(model=model, bits=s["bits"], block=s["block"])
                       for s in wq if s["method"] in CLIPPING_METHODS})

    def raw_outputs(self) -> list[str]:
        """The raw results the figures and tables are made from, and that users and the claims read: targets of
        `all` too, so that a job killed after its figure or table was made (its outputs deleted, what was made from
        them still there) is rerun by a plain `snakemake`. Not listed: the inputs prepared for model jobs (the
        prepared model, the task files, tokenized corpora, SmoothQuant's calibration samples), rebuilt whenever a
        job that reads them runs."""
        out = ["results/protocol.json", "results/protocol_settings.json", "results/claims.csv",
               "results/claims.json", "results/reproduction.json", "results/reproduction.csv"]
        for m in self.models:
            r = f"results/{m}"
            out += [f"{r}/claims.md", f"{r}/detect/layer_maxima.csv", f"{r}/detect/residual_stream.csv",
                    f"{r}/stopwords/summary.json", f"{r}/stopwords/top_tokens.csv",
                    f"{r}/propagation/residual_max.csv", f"{r}/propagation/case_study.csv"]
            out += self.paths("ablation", m) + self.paths("scaling", m) + self.paths("wquant", m)
            out += self.z_files(m) + self.paths("aquant", m)
        return out + self.mechanism_raw() + list(self.emergence_raw)

    def outputs(self) -> list[str]:
        """What `all` builds: each stage's figures and tables, every table also as HTML (the report's page), CSV
        and LaTeX, and the raw results they are made from."""
        fmt = self.fmt
        out = ["results/protocol.md", "results/protocol_settings.md"]
        for m in self.models:
            out += [PATTERNS["detect"].format(model=m), f"results/{m}/detect/down_proj_maxima.{fmt}",
                    f"results/{m}/detect/residual_stream.{fmt}", f"results/{m}/stopwords/stopwords.{fmt}",
                    f"results/{m}/propagation/residual_max.{fmt}", f"results/{m}/propagation/case_study.md"]
        if self.conditions:
            out += [f"results/tables/table1_{m}.md" for m in self.models] + ["results/tables/table1_all.md"]
        out += [f"results/figures/scaling.{fmt}", "results/tables/table5.md"]
        if self.wquant_bits:
            out += [f"results/figures/weight_quant_int{b}.{fmt}" for b in self.wquant_bits]
            out += ["results/tables/table_wquant.md"]
        if self.table6:
            out += ["results/tables/table6_wquant_amplified.md"]
        if any(True for _ in self.of("aquant")):
            out += ["results/tables/table3_act_quant.md"]
        out += ["results/summary.md", "results/summary.html"]
        out += ["results/claims.md", "results/claims.html", "results/protocol.html", "results/reproduction.md"]
        out += self.mechanism_outputs() + list(self.emergence_outputs)
        out += [p[:-3] + ".html" for p in out if p.endswith(".md") and
                (p.startswith("results/tables/") or p.endswith(("_table.md", "emergence.md")))]
        out += [p[:-3] + ext for p in out if p.startswith("results/tables/") and p.endswith(".md")
                for ext in (".csv", ".tex")]
        return list(dict.fromkeys(out + self.raw_outputs()))

    def _results(self) -> dict[str, tuple[str, str | None]]:
        """{path: (its path under results/{model}/, its experiment kind or None)} of ``results``, in its order."""
        out = {}
        for m in self.models:
            out.update({f"results/{m}/{rel}": (rel, None) for rel in (
                paths.DETECT, "detect/residual_stream.csv", "stopwords/summary.json", "propagation/residual_max.csv")})
            for kind in ("ablation", "scaling", "wquant", "aquant"):  # wquant: Fig. 7's sweep and Table 6's settings
                out.update({e.path: (e.path[len(f"results/{m}/"):], kind) for e in self.of(kind, m)})
            out.update({f"results/{m}/mechanism/{exp}.json": (f"mechanism/{exp}.json", None) for exp in self.mechanism})
        return out

    def results(self) -> list[str]:
        """Every result file of every model that the claims and the reproduction marks may read: detection, the
        stopword and propagation measurements, each experiment's scores and each mechanism experiment's result
        (the `reproduction` rule waits for these)."""
        return list(self._results())

    def claims_reading(self, path: str) -> list[str]:
        """The claims that read the result file ``path`` (one of ``results``), from the claims' own declarations:
        a file a claim needs (``inputs``) or reads when present (``uses``), or an experiment of a kind it reads
        every result of (``reads``)."""
        return _readers(*self._results()[path])

    def claim_inputs(self) -> list[str]:
        """The result files some claim reads (``claims_reading``), in ``results``' order: the `claims` rule
        waits for exactly these."""
        return [p for p, (rel, kind) in self._results().items() if _readers(rel, kind)]


def build(cfg: dict, models: list[str], reuse_from=None, emergence: dict | None = None) -> RunPlan:
    """The run plan of a validated ``cfg`` for ``models`` (``emergence``: the checked `emergence:` block, or None).
    ``reuse_from(condition, corpora, eval_cfg)`` says why a
    job cannot read that ablation condition's scores (None: it can); without it nothing is reused."""
    from superweight.interventions.applicability import same_model
    from superweight.scoring import limits

    conditions = tuple(cfg["ablation"]["conditions"])
    wq, aq = cfg["quantization"]["weights"], cfg["quantization"]["activations"]
    params = {kind: limits.eval_for(cfg, kind) for kind in limits.OWN_LIMIT}
    evals = {kind: Eval.from_dict(p) for kind, p in params.items()}
    corpora = {"ablation": cfg["perplexity"]["corpora"], "scaling": cfg["analysis"]["scaling"]["corpora"],
               "wquant": wq["corpora"], "aquant": aq["corpora"]}

    def reuse(kind, spec):
        cond = same_model(kind, spec)
        if cond is None or reuse_from is None:
            return None
        return cond if reuse_from(cond, corpora[kind], params[kind]) is None else None

    ppl, restore = Perplexity.from_dict(cfg["perplexity"]), cfg["ablation"]["restore_tokens"]

    def exp(kind, m, spec, path, reused=False):
        return Experiment(kind, m, spec, path, reuse(kind, spec) if reused else None, tuple(corpora[kind]),
                          evals[kind], work(kind, spec, ppl, corpora[kind], evals[kind], restore))

    settings = wquant_settings(cfg)
    exps = []
    for m in models:
        exps += [exp("ablation", m, {"condition": c}, PATTERNS["ablation"].format(model=m, condition=c))
                 for c in conditions]
        exps += [exp("scaling", m, {"factor": float(f)}, PATTERNS["scaling"].format(model=m, factor=f), True)
                 for f in scaling_factors(cfg, m)]
        exps += [exp("wquant", m, {"bits": s.bits, "method": s.method, "block": s.block, "sw_factor": s.factor},
                     s.pattern().format(model=m)) for s in settings]
        exps += [exp("aquant", m, {"method": a}, PATTERNS["aquant"].format(model=m, amethod=a), True)
                 for a in aq["methods"]]
    em_out, em_raw = emergence_files(emergence, cfg["plots"]["format"])
    return RunPlan(tuple(models), conditions, tuple(exps), cfg["plots"]["format"],
                   mechanism=tuple(cfg["mechanism"]["experiments"]),
                   wquant_bits=tuple(wq["bits"]) if wq["methods"] else (), wquant=tuple(settings),
                   table6=tuple(table6_settings(cfg)) if wq["table6"]["enabled"] else (),
                   emergence_outputs=em_out, emergence_raw=em_raw, z_auto=wq["z"] == "auto",
                   eval_params=MappingProxyType(params), perplexity=ppl,
                   corpora=MappingProxyType({k: tuple(v) for k, v in corpora.items()}), restore_tokens=restore)


def emergence_dir(emergence: dict | None) -> str:
    return f"results/emergence/{emergence['name'] if emergence else 'none'}"


def emergence_files(emergence: dict | None, fmt: str) -> tuple[tuple, tuple]:
    """The emergence sweep's figure and table, and the raw results they are made from (none when not
    configured). ``emergence``: the checked `emergence:` block (superweight.analysis.emergence.check)."""
    if not emergence:
        return (), ()
    d = emergence_dir(emergence)
    raw = [f"{d}/{f}" for f in ("reference.json", "emergence.csv", "emergence.json")]
    return (f"{d}/emergence.{fmt}", f"{d}/emergence.md"), tuple(raw + [f"{d}/steps/{r}.json"
                                                                      for r in emergence["revisions"]])

