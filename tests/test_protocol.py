"""The paper's protocol: config/paper.yaml merged over config/config.yaml as Snakemake merges them equals the table in
superweight.report.protocol on every setting; every run's deviation report lists what differs and never crashes on a key
a checkout does not have."""
import copy
import sys
from pathlib import Path

import pytest
import yaml
from snakemake.utils import update_config

from superweight.workflow.config import ConfigError, validate
from superweight.report.protocol import (ADDITION, INTERPRETATION, NO_EFFECT, SETTINGS, classify, compare, lookup, markdown,
                                  report, schema_keys, unclassified)

REPO = Path(__file__).resolve().parents[1]
SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"
PAPER_MODELS = ["llama-7b", "llama-13b", "llama-30b", "llama2-7b", "llama2-13b", "mistral-7b", "olmo-1b", "olmo-7b",
                "phi3-mini", "llama3-8b"]


def _yaml(name):
    return yaml.safe_load((REPO / "config" / name).read_text())


@pytest.fixture
def default_cfg(data_dir, monkeypatch):
    monkeypatch.delenv("SUPERWEIGHT_DATA", raising=False)
    c = _yaml("config.yaml")
    c["data_dir"] = str(data_dir)
    return validate(c, SCHEMA)


@pytest.fixture
def paper_cfg(monkeypatch):
    """config.yaml with paper.yaml merged over it by Snakemake's own function, then validated (defaults filled)."""
    monkeypatch.delenv("SUPERWEIGHT_DATA", raising=False)
    c = _yaml("config.yaml")
    update_config(c, _yaml("paper.yaml"))
    return validate(c, SCHEMA)


def test_paper_config_matches_the_protocol_table(paper_cfg):
    rows = compare(paper_cfg)
    for r in rows:  # every reference value is paper.yaml's; a paper row equals the paper
        assert r["status"] not in ("differs", "not set"), f"{r['key']}: paper.yaml gives {r['value']!r}, the " \
                                                          f"reference {r['paper']!r}"
        assert r["status"] == {"paper": "same", "official code": "official code", "interpretation": "interpretation",
                               "addition": "addition"}[r["class"]], r
    # every model setting is checked on every model of the paper run, and only those run
    assert [r["key"] for r in rows if r["key"].endswith(".dtype")] == [f"models.{m}.dtype" for m in PAPER_MODELS]
    assert [r["key"] for r in rows if r["key"].endswith(".super_weights")] == [f"models.{m}.super_weights"
                                                                               for m in PAPER_MODELS]
    # the table's own values, spelled out where the issue names them
    assert lookup(paper_cfg, "analysis.scaling.factors") == [0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.8, 1, 1.2, 1.5, 2, 3]
    assert lookup(paper_cfg, "quantization.weights.blocks") == [16384, 65536, 262144, 1048576, "per_tensor"]
    assert lookup(paper_cfg, "ablation.prune_nonsw") == {"rule": "official", "amount": 1e-6}
    assert paper_cfg["eval"]["add_bos_token"] is False and paper_cfg["detection"]["use"] == "known"
    # SmoothQuant's published calibration size; a detection cap far above the 1-2 rounds Table 2 models need
    assert lookup(paper_cfg, "quantization.activations.calibration") == {"corpus": "c4", "samples": 512,
                                                                         "seqlen": 512, "seed": 42}
    assert paper_cfg["detection"]["max_iters"] >= 10
    # no limit anywhere
    assert paper_cfg["eval"]["limit"] is None and paper_cfg["perplexity"]["windows"]["wikitext2"] is None
    for sweep in ("analysis.scaling.limit", "quantization.weights.limit", "quantization.activations.limit"):
        assert lookup(paper_cfg, sweep) is None, sweep


def test_every_schema_key_is_classified():
    """The schema's keys and the protocol's classification are the same set: a key can neither slip past the
    report nor be reported without existing."""
    schema = yaml.safe_load(SCHEMA.read_text())
    assert unclassified(schema) == []
    keys = set(schema_keys(schema))
    stale = [s.key for s in SETTINGS if s.key not in keys] + [k for k in NO_EFFECT if k not in keys]
    assert stale == []
    assert len([s.key for s in SETTINGS]) == len({s.key for s in SETTINGS}) and not {s.key for s in SETTINGS} & set(NO_EFFECT)
    # interpretations and additions are never shown as the paper's
    assert classify("detection.confirm.mode") == ADDITION and classify("quantization.weights.z_criterion") == INTERPRETATION
    assert classify("plots.dpi") == "no effect on numbers"


def test_a_new_schema_key_fails_the_classification():
    schema = yaml.safe_load(SCHEMA.read_text())
    added = copy.deepcopy(schema)
    added["properties"]["detection"]["properties"]["new_knob"] = {"type": "number", "default": 1}
    added["properties"]["models"]["additionalProperties"]["properties"]["tweak"] = {"type": "string"}
    assert unclassified(added) == ["models.*.tweak", "detection.new_knob"]


def test_paper_run_leaves_the_default_model_out_and_checks_names(paper_cfg):
    from superweight.workflow.config import run_models

    assert "smollm2-135m" in paper_cfg["models"]  # merged in by Snakemake ...
    assert run_models(paper_cfg) == PAPER_MODELS  # ... and not run
    bad = copy.deepcopy(paper_cfg)
    bad["run_models"] = ["llama-7b", "llama7b"]
    with pytest.raises(ConfigError, match=r"`run_models` names 'llama7b', not under `models`.*Fix"):
        validate(bad, SCHEMA)


def test_default_report_lists_its_deviations(default_cfg, data_dir):
    rep = report(default_cfg, str(data_dir))
    differs = set(rep["differs"])
    # window length and count, limits, prompts, sweep points and blocks, dtype, the model itself, the detection cap,
    # the official arithmetic and SmoothQuant's calibration size
    assert {"perplexity.seqlen", "perplexity.windows.wikitext2", "perplexity.windows.c4", "eval.limit",
            "analysis.scaling.limit", "quantization.weights.limit", "analysis.stopwords.n_prompts",
            "analysis.scaling.factors", "quantization.weights.blocks", "models.smollm2-135m.dtype",
            "models.smollm2-135m.id", "models.smollm2-135m.source", "detection.max_iters",
            "quantization.weights.compute_dtype", "quantization.activations.calibration.samples"} <= differs
    by_key = {r["key"]: r for r in rep["settings"]}
    assert by_key["perplexity.seqlen"]["value"] == 256 and by_key["perplexity.seqlen"]["paper"] == 2048
    assert by_key["analysis.scaling.limit"]["value"] == 0  # the sweep's own limit (0: perplexity only), not null
    assert by_key["eval.add_bos_token"]["status"] == "official code" and by_key["eval.add_bos_token"]["class"] == "official code"
    assert by_key["perplexity.corpora"]["status"] == "same"
    assert by_key["detection.max_iters"]["class"] == INTERPRETATION and by_key["detection.max_iters"]["value"] == 3
    assert all(by_key[k]["status"] == "differs" for k in differs)
    # additions are never differences, and never "same"
    assert by_key["detection.confirm.seqlen"]["status"] == "addition" and "detection.confirm.seqlen" not in differs
    c4 = next(f for f in rep["facts"] if f["fact"] == "C4 validation")
    assert c4["status"] == "differs" and "2,000-document sample" in c4["note"]
    md = markdown(rep)
    assert f"**{len(differs)} setting(s) differ from the paper's protocol:**" in md
    diff_section = md.split("## Differences")[1].split("\n## ")[0]
    assert "| `perplexity.seqlen` | 256 | 2048 | paper | differs |" in diff_section
    assert "| `detection.max_iters` | 3 | 20 | interpretation | differs |" in diff_section
    assert "equals the paper" not in md.replace("equal the paper's value", "")


def test_paper_report_lists_interpretations_and_additions_by_name(paper_cfg, data_dir):
    rep = report(paper_cfg, str(data_dir))  # the paper run on the shipped data
    assert rep["differs"] == []
    md = markdown(rep)
    assert "Every setting equals the paper's" not in md
    assert "**No setting differs from the paper's protocol as this project reads it.**" in md
    sections = {s.split("\n", 1)[0]: s for s in md.split("\n## ")[1:]}
    interp, added, paper = sections["Interpretations"], sections["Additions"], sections["Settings the paper states"]
    for key in ("detection.max_iters", "quantization.weights.z_criterion", "quantization.weights.z_candidates",
                "quantization.weights.table6.factors", "quantization.activations.calibration.corpus"):
        assert f"`{key}`" in interp and f"`{key}`" not in paper, key
    for key in ("detection.confirm.mode", "detection.confirm.factor", "detection.confirm.windows", "mechanism.seqlen",
                "mechanism.windows", "stats.level"):
        assert f"`{key}`" in added and f"`{key}`" not in paper, key
    assert "`detection.column`" in paper and "| detect.rounds | this project |" in sections["Choices no setting changes"]
    # per-tensor blocks come from the official README's loop, not Fig. 7: not a setting the paper states
    assert "`quantization.weights.blocks`" in sections["Settings from the official code"]
    assert "`quantization.weights.blocks`" not in paper
    # Table 2 entries the paper does not state (Llama-3-8B; OLMo-1B's layer 2) are the official code's, per model
    official = sections["Settings from the official code"]
    for key in ("models.llama3-8b.id", "models.llama3-8b.source", "models.llama3-8b.super_weights",
                "models.olmo-1b.super_weights"):
        assert f"`{key}`" in official and f"`{key}`" not in paper, key
    for key in ("models.llama-7b.super_weights", "models.olmo-1b.id", "models.phi3-mini.super_weights"):
        assert f"`{key}`" in paper and f"`{key}`" not in official, key
    assert set(rep["interpretations"]) >= {"detection.max_iters", "quantization.weights.z_criterion"}
    assert "detection.confirm.mode" in rep["additions"]
    assert {"torch", "transformers", "lm_eval", "snakemake"} <= {v["package"] for v in rep["versions"]}
    assert "## Library versions" in md and "| lm_eval |" in md
    assert [f["fact"] for f in rep["facts"] if f["status"] == "differs"] == [
        "C4 validation", "z calibration text", "SmoothQuant calibration text", "lm-eval version"]
    rep = report(paper_cfg, None)  # from the Hub: the real C4 shard
    assert [f["fact"] for f in rep["facts"] if f["status"] == "differs"] == [
        "z calibration text", "SmoothQuant calibration text", "lm-eval version"]


def test_detection_cap_reached_is_reported(default_cfg, data_dir):
    """A model whose detection stopped at the cap with spikes left is named at the top of protocol.md and in
    protocol.json; the versions the model jobs ran come from detection's provenance."""
    capped = {"stopped": "iteration cap", "max_iters": 3, "rounds": 3, "cap_reached": True,
              "candidates": [{}] * 4, "super_weights": [{}],
              "provenance": {"versions": {"torch": "9.9.9", "transformers": "8.8.8"}}}
    rep = report(default_cfg, str(data_dir), {"smollm2-135m": capped})
    assert rep["detection_cap_reached"] == ["smollm2-135m"]
    md = markdown(rep)
    assert "**Detection stopped at its iteration cap (detection.max_iters) with spikes left for: smollm2-135m.**" in md
    assert "| smollm2-135m | **iteration cap (spikes left)** | 3 | 3 | 4 | 1 |" in md
    torch_row = next(v for v in rep["versions"] if v["package"] == "torch")
    assert torch_row["version"] == "9.9.9 (smollm2-135m)" and "detection provenance" in torch_row["from"]
    done = dict(capped, stopped="no spike", cap_reached=False)
    rep = report(default_cfg, str(data_dir), {"smollm2-135m": done})
    assert rep["detection_cap_reached"] == [] and "Detection stopped at its iteration cap" not in markdown(rep)


@pytest.mark.workflow
def test_protocol_module_imports_no_torch():
    import subprocess

    r = subprocess.run([sys.executable, "-c", "import sys, superweight.report.protocol; print('torch' in sys.modules)"],
                       capture_output=True, text=True, env={"PYTHONPATH": str(REPO / "src")})
    assert r.stdout.strip() == "False", r.stderr


@pytest.mark.workflow
def test_protocol_rule_reads_every_models_detection(wf):
    """The report waits for each run model's detection summary (the loop's outcome, the versions it ran)."""
    from helpers import snakemake

    r = snakemake(wf, "-n", "--cores", "1", "results/protocol.md")
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-3000:]
    assert "results/smollm2-135m/detect/super_weights.json" in out and "rule protocol:" in out


@pytest.mark.workflow
def test_paper_dry_run_lists_the_full_job_set_without_the_default_model(wf):
    from helpers import snakemake

    r = snakemake(wf, "-n", "--cores", "1", "--configfile", "config/paper.yaml")
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-3000:]
    assert "smollm2-135m" not in out
    counts = {}
    for line in out.split("Job stats:")[1].splitlines()[3:]:
        if not line.strip():
            break
        counts[line.split()[0]] = int(line.split()[1])
    n = len(PAPER_MODELS)
    assert counts["prepare_model"] == n and counts["score"] == 4 * n
    assert "score_wquant_sweep" not in counts  # one job per setting: side by side on a cluster (one_job: false)
    # each model's scaling grid: its own Fig. 6 grid (models.<m>.scaling_factors) or Fig. 6's twelve factors; x1 is
    # the original model and x0 the prune_sw model, each scored once (their evaluation settings agree in the paper run)
    cfg = yaml.safe_load((REPO / "config" / "paper.yaml").read_text())
    grids = {m: cfg["models"][m].get("scaling_factors") or cfg["analysis"]["scaling"]["factors"] for m in PAPER_MODELS}
    assert counts["score_scaled"] + counts.get("reuse_scaled", 0) == sum(map(len, grids.values()))
    assert counts.get("reuse_scaled") == sum((0 in g) + (1 in g) for g in grids.values())
    assert grids["llama-30b"] != grids["llama-7b"] and 1.3 in grids["llama-30b"]  # Table 5's best 30B point is run
    methods = yaml.safe_load((REPO / "config" / "config.yaml").read_text())["quantization"]["weights"]["methods"]
    for m in methods:  # Fig. 7's five block sizes, for every model and method
        for b in (16384, 65536, 262144, 1048576, "per_tensor"):
            assert all(f"results/{model}/wquant/int4/{m}/block{b}/scores.json" in out for model in PAPER_MODELS)
    assert counts["protocol"] == 1


def _declared() -> dict[str, list[str]]:
    """Every module-level ``FIXED_CHOICES`` in src/superweight: choice name -> the modules declaring it."""
    import ast

    src = REPO / "src" / "superweight"
    out: dict[str, list[str]] = {}
    for p in sorted(src.rglob("*.py")):
        for node in ast.parse(p.read_text()).body:
            if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "FIXED_CHOICES" for t in node.targets):
                mod = ".".join(p.relative_to(src).with_suffix("").parts)
                for name in ast.literal_eval(node.value):
                    out.setdefault(name, []).append(mod)
    return out


def _mismatches(declared: dict[str, list[str]], rows) -> list[str]:
    """Both directions: a declared choice without a row (or in another module than its row names), a row whose
    module does not declare it."""
    by_name = {f.name: f for f in rows}
    bad = [f"{n}: declared by {ms}, no row in report/fixed_choices.py" for n, ms in declared.items()
           if n not in by_name]
    bad += [f"{n}: declared by {ms}, its row names {by_name[n].module}" for n, ms in declared.items()
            if n in by_name and ms != [by_name[n].module]]
    bad += [f"{f.name}: row of {f.module}, which does not declare it in FIXED_CHOICES" for f in rows
            if f.name not in declared]
    return bad


def test_every_fixed_choice_has_a_row_and_every_row_a_module():
    """A module that makes a choice no config key changes names it in FIXED_CHOICES; each name is one row of the
    page's registry, and each row is declared by the module it names."""
    from superweight.report.fixed_choices import FIXED, WHOSE

    declared = _declared()
    assert _mismatches(declared, FIXED) == []
    assert len({f.name for f in FIXED}) == len(FIXED) and {f.whose for f in FIXED} <= set(WHOSE)
    # the choices the issue names, each with its module
    for name, mod in (("w8a8.sa_where", "quant.w8a8"), ("w8a8.sa_token_median", "quant.w8a8"),
                      ("restore.several_layers", "interventions.restore"), ("stopwords.list", "analysis.stopwords"),
                      ("stopwords.mass", "analysis.stopwords"), ("score.acc", "scoring.score"),
                      ("rtn.flat_blocks", "quant.rtn"), ("ppl.windows", "scoring.perplexity")):
        assert declared.get(name) == [mod], name


def test_an_undeclared_or_unlisted_fixed_choice_fails():
    from superweight.report.fixed_choices import FIXED, Fixed

    declared = _declared()
    planted = {**declared, "w8a8.new_trick": ["quant.w8a8"]}
    assert _mismatches(planted, FIXED) == ["w8a8.new_trick: declared by ['quant.w8a8'], no row in "
                                           "report/fixed_choices.py"]
    gone = {n: ms for n, ms in declared.items() if n != "stopwords.mass"}
    assert _mismatches(gone, FIXED) == ["stopwords.mass: row of analysis.stopwords, which does not declare it in "
                                        "FIXED_CHOICES"]
    moved = {**declared, "score.acc": ["scoring.accuracy"]}
    assert _mismatches(moved, FIXED) == ["score.acc: declared by ['scoring.accuracy'], its row names scoring.score"]
    with pytest.raises(ValueError, match="whose 'the paper' is not one of"):
        Fixed("x", "quant.rtn", "what", "the paper", "ref", "why")


def test_paper_page_has_the_corrected_classes_and_the_fixed_choices(paper_cfg, data_dir):
    """The protocol page of config/paper.yaml: the paper's column rule, SmoothQuant's BMM reading, this project's
    joint spike rule, the official code's flat blocks, and one row per fixed choice with whose it is."""
    from superweight.report.fixed_choices import FIXED

    rep = report(paper_cfg, str(data_dir), installed={})
    by_key = {r["key"]: r for r in rep["settings"]}
    assert by_key["detection.column"]["value"] == "input_max"
    assert (by_key["detection.column"]["class"], by_key["detection.column"]["status"]) == ("paper", "same")
    assert "contribution is this project's addition" in by_key["detection.column"]["note"]
    rule = by_key["detection.rule"]
    assert rule["class"] == INTERPRETATION and "analyze.py:75-80" in rule["source"]
    bmm = by_key["quantization.activations.bmm"]
    assert bmm["class"] == INTERPRETATION and bmm["source"].startswith("SmoothQuant") and "RoPE" in bmm["note"]
    for key in ("quantization.weights.table6.blocks", "quantization.weights.blocks"):
        row = by_key[key]
        assert row["class"] == "official code" and "rtn.flat_blocks" in row["source"] + row["note"]
    md = markdown(rep)
    sections = {s.split("\n", 1)[0]: s for s in md.split("\n## ")[1:]}
    paper = sections["Settings the paper states"]
    for key in ("detection.rule", "quantization.activations.bmm", "quantization.weights.table6.blocks"):
        assert f"`{key}`" not in paper, key
    assert "| `detection.column` | input_max | input_max | same |" in paper
    assert "`detection.rule`" in sections["Interpretations"]
    assert "`quantization.activations.bmm`" in sections["Interpretations"]
    factors = by_key["analysis.scaling.factors"]  # a model outside Fig. 6: this project's grid, each paper model its own
    assert factors["class"] == INTERPRETATION
    assert {by_key[f"models.{m}.scaling_factors"]["status"] for m in ("llama-7b", "llama-13b", "llama-30b",
                                                                       "mistral-7b")} == {"same"}
    fixed = sections["Choices no setting changes"]
    for f in FIXED:
        assert f"| {f.name} | {f.whose} | superweight.{f.module} |" in fixed, f.name
    assert "as the paper" not in md  # an interpretation is never worded as the paper's
