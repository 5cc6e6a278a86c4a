"""Per-number reproduction marks: each number the paper prints for a model (config/paper_results.yaml) beside this
run's value and interval, marked **reproduced**, **not reproduced** or **undecided** against a stated band.

The band (``TOLERANCE``, each with its justification) is the paper's printed precision (half a unit of its last
decimal) widened by the protocol differences the band names. The paper's number is the value on its whole test set
(all documents of a task, its perplexity windows): a run that scored that whole set measures the same quantity with
no sampling error, so its value is marked by whether it lies in the band; such a mark is no test and carries no
error rate: its correctness rests on the band alone. A run on a subset is **undecided**: lm-eval's ``limit`` takes
the first N documents and the perplexity windows are the first or evenly spread ones, deterministic subsets and not
random samples, so no interval of theirs bounds the whole-set value (the interval is shown for reading). Undecided
too where the quantity is not the paper's (another window length, another detection rule, an average over other
tasks, a factor the paper does not state, another prompt set) and where the band cannot decide (a W8A8 share or the
best scale outside their bands: protocol moves them more than the band holds). A paper value flagged ``suspect`` in
config/paper_results.yaml is never marked not reproduced."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from superweight.stats.intervals import NA, Estimate

REPRODUCED, NOT_REPRODUCED, UNDECIDED = "reproduced", "not reproduced", "undecided"
MARKS = (REPRODUCED, NOT_REPRODUCED, UNDECIDED)
NOT_RUN = "not scored in this run"  # the reason of an undecided mark where the run has no result for the number
SUBSET = "a subset: the first N documents / windows are not a random sample, so no interval bounds the whole-set value"


@dataclass(frozen=True)
class Tolerance:
    """A band around the paper's value: ``points`` (absolute, in the number's unit), ``ratio`` (the value within
    x/÷ width: perplexities and ratios), ``rounding`` (from the printed inputs alone), ``exact``."""
    kind: str
    width: float
    why: str


# The tolerance of each kind of number, with why. Every band also holds the paper's rounding (half a unit of its
# last printed decimal).
TOLERANCE = {
    "accuracy": Tolerance("points", 1.0, (
        "1 point: the paper prints 2 decimals (rounding 0.005); the rest is protocol this run cannot match, "
        "lm-eval's version (the paper's ~0.4.3), batch padding and float16 kernels, which flip documents whose "
        "choices are near ties; the paper gives no repeat that sizes this (Table 1's and Table 5's Llama-7B "
        "accuracies are the same evaluation printed twice, not a repeat), so 1 point is a stated margin. It is "
        "wider than Table 5's and Table 6's amplification gains (0.04-1.35 points): a reproduced amplified row "
        "says nothing about amplification (the claims' paired tests judge that)")),
    "accuracy_damaged": Tolerance("points", 3.0, (
        "3 points, for a damaged model (the super weight removed, or an average more than 5 points below the "
        "original's): its choices sit near ties far more often, so the same numerical differences flip several "
        "times more documents; the paper gives no repeat, so this is a stated 3x the intact band")),
    "ppl": Tolerance("ratio", 1.01, (
        "x/÷1.01: the paper prints 2 decimals (0.005: 0.1% at 5.67) and its two protocols for the same number "
        "differ by 0.18% (Llama-7B Wiki-2 5.67 in Table 1, 5.68 in Table 3); this run's float16 kernels, attention "
        "implementation and tokenizer version differ from the paper's by amounts it does not give: 1% is a stated "
        "margin ~5x the paper's own disagreement")),
    "ppl_damaged": Tolerance("ratio", 1.25, (
        "x/÷1.25 for a perplexity above 100 (the super weight removed): the model's output is far from any trained "
        "state, so numerical differences move its log-likelihoods many times more than an intact model's; the paper "
        "gives no repeat, so this is a stated band, still far inside the x100-x200 effect it measures")),
    "ppl_ratio_quant": Tolerance("gap", 0.5, (
        "a W8A8 method's ppl / ppl(fp) of this run against the paper's same ratio (the protocol offsets both share, "
        "tokenizer, kernels, windows, cancel in it), within x/÷exp(g/2), g the smallest log-gap between the paper's "
        "printed perplexities of that model and corpus (fp included): half that gap is the widest band in which no "
        "two of the paper's methods could both be reproduced, so a method that does nothing (naive W8A8 at fp's "
        "perplexity) is not. Where the paper's own rounding (each perplexity +-0.005) moves its ratio by more than "
        "g/2 the printed numbers cannot be checked that finely: undecided")),
    "share": Tolerance("rounding", 0.0, (
        "the range of shares the paper's printed perplexities allow (each +-0.005) and the printed share's own "
        "rounding: reproduced inside it, else undecided, never not reproduced: the protocol choices the paper "
        "leaves unstated (o_proj and the BMM operands quantized or not, the calibration text: protocol page) move a "
        "share of a 0.01-0.2 perplexity difference far more than this band holds")),
    "stopword_ratio": Tolerance("ratio", 1.10, (
        "x/÷1.10 and the printed decimal; always undecided here: the paper does not say which 500 LAMBADA prompts "
        "or how the last word is cut (this run: the first 500, text minus its last space-separated word), so the "
        "same n of other prompts is a sample, and Fieller's ratio of means has no n at which its test's error is "
        "measured")),
    "best_factor": Tolerance("points", 1.0, (
        "the accuracy band (1 point): not reproduced when the average accuracy at the paper's best scale lies more "
        "than 1 point (and the rounding) below this run's best scale, else undecided: the paper's own gain over x1 "
        "(Fig. 6: 0.04-0.43 points) is inside the band, so this run cannot confirm which scale is best, and its "
        "best is picked on the same data (best of k)")),
    "coordinate": Tolerance("exact", 0.0, (
        "exact: a coordinate is found by the data-free detection under the paper's rule (its prompt, the absolute "
        "threshold 50, the input maximum's channel; the candidates before the run's data-dependent confirmation) or "
        "it is not; under another rule a miss is undecided")),
}
DAMAGED_PPL = 100.0
DAMAGED_DROP = 5.0  # an average accuracy this many points below the paper's original marks a damaged model


@dataclass
class Row:
    """One paper number against this run (a row of results/reproduction.{json,csv,md})."""
    table: str
    model: str
    quantity: str
    paper: float | str
    value: float | str | None
    lo: float | None
    hi: float | None
    level: float | None
    n: int | None
    basis: str          # "whole set" (no sampling error), "sample", "same n, other prompts", "exact", "" (none)
    band_lo: float | None
    band_hi: float | None
    tolerance: str      # a key of TOLERANCE
    mark: str
    reason: str

    def as_dict(self) -> dict:
        return asdict(self)


def decimals(v: float, at_least: int = 0) -> int:
    """Decimals the paper printed ``v`` with (at least ``at_least``: a YAML float drops trailing zeros)."""
    s = f"{v:.6f}".rstrip("0").rstrip(".")
    return max(at_least, len(s.split(".")[1]) if "." in s else 0)


def band(paper: float, tol: Tolerance, printed: int = 2) -> tuple[float, float]:
    """[lo, hi] around the paper's value: its rounding (half a unit of the ``printed`` decimal) widened by the
    tolerance (``points`` added, ``ratio`` multiplied)."""
    half = 0.5 * 10 ** -decimals(paper, printed)
    if tol.kind == "points":
        return paper - half - tol.width, paper + half + tol.width
    if tol.kind == "ratio":
        return max(paper - half, 0.0) / tol.width, (paper + half) * tol.width
    raise ValueError(f"band() takes a points or ratio tolerance, got {tol.kind!r}")


def share_band(num: tuple[float, float], den: tuple[float, float], printed: float) -> tuple[float, float]:
    """The shares (%) (num0 - num1) / (den0 - den1) the paper's printed perplexities (each +-0.005) allow, joined
    with the printed share's own rounding."""
    n, d = num[0] - num[1], den[0] - den[1]
    half = 0.5 * 10 ** -decimals(printed)
    lo_d, hi_d = d - 0.01, d + 0.01
    lo = 100 * max(n - 0.01, 0.0) / hi_d
    hi = 100 * (n + 0.01) / lo_d if lo_d > 0 else math.inf
    return min(lo, printed - half), max(hi, printed + half)


def ratio_band(method: float, fp: float, printed: list[float]) -> tuple[float, float, str]:
    """(lo, hi, why undecidable or "") of the paper's ppl(method) / ppl(fp) (``ppl_ratio_quant``): x/÷exp(g/2), g
    the smallest log-gap between the ``printed`` perplexities of that model and corpus; undecidable where the
    printed values' rounding (+-0.005 each) moves the ratio by more than g/2."""
    logs = sorted({math.log(v) for v in printed})
    g = min((b - a for a, b in zip(logs, logs[1:])), default=0.0)
    r = method / fp
    half = 0.5 * 10 ** -max(decimals(method, 2), decimals(fp, 2))
    rounding = max(math.log((method + half) / (fp - half) / r), math.log(r / ((method - half) / (fp + half))))
    why = "" if rounding <= g / 2 else (
        f"the paper's rounding moves its ratio by x/÷{math.exp(rounding):.5f}, more than half the smallest gap "
        f"between its methods (x/÷{math.exp(g / 2):.5f}): its printed numbers cannot be checked that finely")
    return r * math.exp(-g / 2), r * math.exp(g / 2), why


def _fmt(v) -> str:
    return "–" if v is None else f"{v:.4g}" if isinstance(v, float) else str(v)


def _shown(est: Estimate, level: float, scale: float) -> dict:
    e = est.at(level)
    return {"value": scale * est.value, "lo": scale * e.lo, "hi": scale * e.hi, "level": e.level, "n": est.n}


def mark_estimate(est: Estimate | NA | None, low: float, high: float, level: float, whole: bool,
                  scale: float = 1.0, subset: str = "", far: str = NOT_REPRODUCED) -> tuple[str, str, dict]:
    """(mark, reason, shown) of an estimate against the band [low, high] (on the paper's scale; ``scale`` turns
    the estimate's scale into it, e.g. 100 for an accuracy in %). ``whole``: the run scored the paper's whole set
    (no sampling error: the value alone decides); else undecided with ``subset`` (why the subset is no random
    sample). ``far``: the mark outside the band (undecided where the band cannot rule a value out). ``shown``:
    value, its interval at ``level``, n, on the paper's scale."""
    if est is None:
        return UNDECIDED, NOT_RUN, {}
    if isinstance(est, NA):
        return UNDECIDED, str(est), {}
    shown = _shown(est, level, scale)
    if not whole:
        return UNDECIDED, subset or SUBSET, shown
    v = scale * est.value
    inside = low <= v <= high
    return (REPRODUCED if inside else far,
            f"the paper's whole set scored (no sampling error): {_fmt(v)} {'inside' if inside else 'outside'} "
            f"[{_fmt(low)}, {_fmt(high)}]", shown)


def row(table: str, model: str, quantity: str, paper, tol: str, lohi: tuple[float, float] | None,
        got: tuple[str, str, dict], basis: str, value=None) -> Row:
    """A Row from a mark_* result."""
    mark, reason, shown = got
    lo, hi = lohi if lohi else (None, None)
    return Row(table, model, quantity, paper, shown.get("value", value) if value is None else value,
               shown.get("lo"), shown.get("hi"), shown.get("level"), shown.get("n"), basis if shown else "",
               lo, hi, tol, mark, reason)


def counts(rows: list[dict]) -> dict[str, int]:
    """{mark: number of rows}."""
    return {m: sum(r["mark"] == m for r in rows) for m in MARKS}
