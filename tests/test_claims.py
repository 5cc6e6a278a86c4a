"""Claim verdicts on synthetic result sets built to produce each verdict."""
import json

import pytest

from superweight import claims
from superweight.claims import CLAIMS, Finding, claim, evaluate_model, write
from synth import result

ORIG = {"arc_challenge": .40, "arc_easy": .60, "hellaswag": .40, "lambada_openai": .33, "piqa": .65, "sciq": .75,
        "winogrande": .50}
CHANCE = {"arc_challenge": .25, "arc_easy": .25, "hellaswag": .25, "lambada_openai": .02, "piqa": .5, "sciq": .25,
          "winogrande": .5}


class Run:
    """Result files of one synthetic model under tmp/results/{model}/."""

    def __init__(self, tmp, model="m"):
        self.root, self.model, self.files = tmp / "results" / model, model, {}

    def put(self, rel, obj, text=False):
        p = self.root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(obj if text else json.dumps(obj))
        self.files[rel] = p
        return self

    def ablation(self, **conds):
        for cond, kw in conds.items():
            self.put(f"ablation/{cond}/scores.json", result(self.model, condition=cond, **kw))
        return self

    def verdicts(self):
        return {r["claim"]: r for r in evaluate_model(self.model, self.files, n_boot=500)}


def test_prune_sw_destroys_holds_fails_inconclusive_and_not_applicable(tmp_path):
    v = Run(tmp_path / "a").ablation(original=dict(acc=ORIG, ppl=30, n=100),
                                     prune_sw=dict(acc=CHANCE, ppl=920, n=100, seed=1)).verdicts()
    assert v["prune_sw_destroys"]["verdict"] == "holds", v["prune_sw_destroys"]["evidence"]
    est = v["prune_sw_destroys"]["estimates"]["wikitext2_ppl_ratio"]
    assert est["lo"] >= 10 and est["value"] == pytest.approx(920 / 30, rel=0.05)
    # pruning that only doubles perplexity and keeps the accuracy: fails
    v = Run(tmp_path / "b").ablation(original=dict(acc=ORIG, ppl=30, n=100),
                                     prune_sw=dict(acc=ORIG, ppl=60, n=100, seed=1)).verdicts()
    assert v["prune_sw_destroys"]["verdict"] == "fails"
    # ten times the perplexity on four noisy windows and five documents per task: the run cannot decide
    v = Run(tmp_path / "c").ablation(original=dict(acc=ORIG, ppl=30, n=5, n_windows=4),
                                     prune_sw=dict(acc=CHANCE, ppl=300, n=5, n_windows=4, seed=3)).verdicts()
    r = v["prune_sw_destroys"]
    assert r["verdict"] == "inconclusive", r["evidence"]
    # no confirmed super weight: the experiment was skipped, the claim is not applicable with that reason
    run = Run(tmp_path / "d").ablation(original=dict(acc=ORIG, ppl=30))
    run.put("ablation/prune_sw/scores.json", result("m", condition="prune_sw", status="skipped"))
    v = run.verdicts()
    assert v["prune_sw_destroys"]["verdict"] == "not applicable"
    assert v["prune_sw_destroys"]["evidence"] == "no confirmed super weight"
    # a claim whose results were not produced: not applicable, not run
    assert v["w8a8_sa_helps"]["verdict"] == "not applicable" and v["w8a8_sa_helps"]["evidence"].startswith("not run")


def test_other_ablation_claims(tmp_path):
    v = Run(tmp_path).ablation(original=dict(acc=ORIG, ppl=30, n=100),
                               prune_sw=dict(acc=CHANCE, ppl=920, n=100, seed=1),
                               prune_nonsw=dict(acc=ORIG, ppl=48, n=100, seed=2),
                               prune_sw_restore_sa=dict(acc=0.9, ppl=9000, n=100, seed=3)).verdicts()
    assert v["prune_nonsw_hurts_less"]["verdict"] == "holds"
    assert "106 weights pruned" in v["prune_nonsw_hurts_less"]["evidence"]
    assert v["restore_recovers_part"]["verdict"] == "fails"  # "restoring" made perplexity worse


def test_w8a8_share_is_not_applicable_when_smoothquant_does_not_help(tmp_path):
    run = Run(tmp_path)
    for i, (m, p) in enumerate([("naive", 33.1), ("sa_aware", 33.13), ("smoothquant", 41.3)]):
        run.put(f"aquant/w8a8/{m}/scores.json", result("m", kind="aquant", method=m, acc=None, ppl=p, seed=i))
    v = run.verdicts()
    assert v["w8a8_keeps_sq_gain"]["verdict"] == "not applicable"
    assert "SmoothQuant's gain over naive is" in v["w8a8_keeps_sq_gain"]["evidence"]
    assert v["w8a8_sa_helps"]["verdict"] in ("fails", "inconclusive")


def test_detection_claims_from_detect_files(tmp_path):
    run = Run(tmp_path)
    run.put("detect/super_weights.json", {"n_layers": 30, "super_weights": [{"layer": 2, "row": 507, "col": 90}],
                                          "known": [{"layer": 2, "row": 507, "col": 90, "status": "found"},
                                                    {"layer": 3, "row": 1, "col": 1, "status": "missed"}]})
    rows = ["condition,layer,max_abs,channel,token"]
    rows += [f"original,{i},{1000 if i >= 3 else 5},{507 if i >= 3 else 4},0" for i in range(31)]
    rows += [f"super weights zeroed,{i},5,4,0" for i in range(31)]
    run.put("detect/residual_stream.csv", "\n".join(rows) + "\n", text=True)
    v = run.verdicts()
    assert v["early_layer"]["verdict"] == "holds" and v["massive_activation"]["verdict"] == "holds"
    assert v["detection_finds_table2"]["verdict"] == "fails" and "missed" in v["detection_finds_table2"]["evidence"]


def test_stopword_claims_from_per_prompt_values(tmp_path):
    run = Run(tmp_path)
    pp = {"stopword_mass": {"original": [0.4, 0.5, 0.45, 0.5], "no_super_weight": [0.7, 0.75, 0.7, 0.8]},
          "the": {"token_id": 1, "original": [0.1, 0.2, 0.1, 0.2], "no_super_weight": [0.05, 0.1, 0.05, 0.1]},
          ".": {"token_id": 2, "original": [0.1, 0.1, 0.1, 0.1], "no_super_weight": [0.2, 0.2, 0.3, 0.2]},
          ",": {"token_id": 3, "original": [0.1, 0.1, 0.1, 0.1], "no_super_weight": [0.3, 0.3, 0.3, 0.4]}}
    run.put("stopwords/summary.json", {"status": "done", "stopword_mass_original": 0.46,
                                       "stopword_mass_no_super_weight": 0.74, "per_prompt": pp})
    v = run.verdicts()
    assert v["stopword_mass_rises"]["verdict"] == "holds"
    assert v["stopwords_each_rise"]["verdict"] == "fails"  # "the" halves, as the paper's Mistral counter-example


def test_a_new_claim_is_one_entry_and_one_function(tmp_path):
    """How the mechanism experiments' claims plug in: one registration; its file missing -> not run."""
    try:
        @claim("skip_ablation_test", "§x", "a mechanism claim", "paper number", "value > 1",
               ("mechanism/skip.csv",), threshold=1.0)
        def _skip(ctx, t):
            x = float(ctx.rows("mechanism/skip.csv")[0]["ratio"])
            return Finding("holds" if x > t["threshold"] else "fails", f"ratio {x}")

        run = Run(tmp_path)
        assert run.verdicts()["skip_ablation_test"]["evidence"] == "not run (mechanism/skip.csv)"
        run.put("mechanism/skip.csv", "ratio\n3.5\n", text=True)
        rows = evaluate_model("m", run.files, n_boot=200)
        assert {r["claim"]: r["verdict"] for r in rows}["skip_ablation_test"] == "holds"
        write(rows, ["m"], tmp_path / "claims")
        md = (tmp_path / "claims.md").read_text()
        assert "| skip_ablation_test | §x | holds |" in md
        data = json.loads((tmp_path / "claims.json").read_text())
        assert {r["verdict"] for r in data["claims"]} <= set(claims.VERDICTS)
        with pytest.raises(ValueError, match="registered twice"):
            claim("skip_ablation_test", "", "", "", "")(_skip)
    finally:
        CLAIMS[:] = [c for c in CLAIMS if c.id != "skip_ablation_test"]


def test_scaling_and_weight_quantization_claims(tmp_path):
    run = Run(tmp_path / "s")
    run.put("scaling/x1/scores.json", result("m", kind="scaling", factor=1.0, acc=ORIG, ppl=30, n=20))
    assert run.verdicts()["scaling_up"]["verdict"] == "not applicable"  # no factor in [1.2, 2]
    run.put("scaling/x1.5/scores.json", result("m", kind="scaling", factor=1.5, acc=ORIG, ppl=30, n=20))
    r = run.verdicts()["scaling_up"]
    assert r["verdict"] == "inconclusive" and "[0, 0]" in r["evidence"]  # no document changed: nothing decided
    up = {t: min(1.0, p + 0.3) for t, p in ORIG.items()}
    run.put("scaling/x2/scores.json", result("m", kind="scaling", factor=2.0, acc=up, ppl=30, n=100))
    run.put("scaling/x1/scores.json", result("m", kind="scaling", factor=1.0, acc=ORIG, ppl=30, n=100))
    assert run.verdicts()["scaling_up"]["verdict"] == "holds"

    run = Run(tmp_path / "w")
    for m, b, p in [("rtn", 4096, 176), ("sw_aware", 4096, 235), ("rtn", 1048576, 1.2e7), ("sw_aware", 1048576, 3.5e4)]:
        run.put(f"wquant/int4/{m}/block{b}/scores.json",
                result("m", kind="wquant", method=m, bits=4, block=str(b), acc=CHANCE, ppl=p, n=10, seed=b % 7))
    r = run.verdicts()["wquant_sw_aware"]
    # perplexity decides both sub-tests; accuracy of two destroyed models at 10 documents cannot
    assert r["verdict"] == "inconclusive", r["evidence"]
    assert "ppl(rtn)/ppl(sw_aware)" in r["evidence"] and "gap growth" in r["evidence"]
    assert r["estimates"]["wikitext2_rtn_over_sw_1048576"]["lo"] > 1
    assert r["estimates"]["wikitext2_gap_growth"]["lo"] > 0


def test_mechanism_verdicts_are_read_back_from_their_result_files(tmp_path):
    """The mechanism jobs store their verdict; the claims table shows it, and says why when one is not run."""
    (tmp_path / "mechanism").mkdir()
    stored = {"hadamard": {"verdict": "holds", "evidence": "input rank 1 of 1536", "test": "t"},
              "skip": {"verdict": "inconclusive", "evidence": "share 0.4 [0.1, 0.9]", "estimate": 0.4,
                       "ci": [0.1, 0.9], "threshold": 0.5, "test": "t"}}
    files = {}
    for exp, v in stored.items():
        p = tmp_path / "mechanism" / f"{exp}.json"
        p.write_text(json.dumps({"verdict": v}))
        files[f"mechanism/{exp}.json"] = p
    rows = {r["claim"]: r for r in evaluate_model("m", files)}
    assert rows["mechanism_hadamard"]["verdict"] == "holds" and "rank 1" in rows["mechanism_hadamard"]["evidence"]
    assert rows["mechanism_skip"]["verdict"] == "inconclusive"
    assert rows["mechanism_significance"]["verdict"] == "not applicable"
    assert "not run" in rows["mechanism_significance"]["evidence"]
