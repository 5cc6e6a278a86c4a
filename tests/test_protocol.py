"""The paper's protocol: config/paper.yaml merged over config/config.yaml as Snakemake merges them equals the table in
superweight.protocol on every setting; every run's deviation report lists what differs and never crashes on a key
a checkout does not have."""
import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from snakemake.utils import update_config

from superweight.config import ConfigError, validate
from superweight.protocol import NO_PAPER_VALUE, SETTINGS, compare, lookup, markdown, report

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
    for r in rows:
        if r["has_paper_value"]:
            assert r["status"] == "same", f"{r['key']}: paper.yaml gives {r['value']!r}, the paper {r['paper']!r}"
        else:  # settings the paper does not have may be absent from a checkout
            assert r["status"] in ("no paper value", "not set"), r
    # every model setting is checked on every model of the paper run, and only those run
    assert [r["key"] for r in rows if r["key"].endswith(".dtype")] == [f"models.{m}.dtype" for m in PAPER_MODELS]
    # the table's own values, spelled out where the issue names them
    assert lookup(paper_cfg, "analysis.scaling.factors") == [0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.8, 1, 1.2, 1.5, 2, 3]
    assert lookup(paper_cfg, "quantization.weights.blocks") == [16384, 65536, 262144, 1048576, "per_tensor"]
    assert lookup(paper_cfg, "ablation.prune_nonsw") == {"rule": "official", "amount": 1e-6}
    assert paper_cfg["eval"]["add_bos_token"] is False and paper_cfg["detection"]["use"] == "known"
    # no limit anywhere
    assert paper_cfg["eval"]["limit"] is None and paper_cfg["perplexity"]["windows"]["wikitext2"] is None
    for sweep in ("analysis.scaling.limit", "quantization.weights.limit", "quantization.activations.limit"):
        assert lookup(paper_cfg, sweep) is None, sweep


def test_every_protocol_key_is_in_the_schema_or_has_no_paper_value():
    schema = yaml.safe_load(SCHEMA.read_text())

    def known(key):
        node = schema
        for part in key.split("."):
            if part == "*":
                node = node["additionalProperties"]
                continue
            node = node.get("properties", {}).get(part)
            if node is None:
                return False
        return True

    missing = [s.key for s in SETTINGS if not known(s.key)]
    assert all(next(s for s in SETTINGS if s.key == k).paper is NO_PAPER_VALUE for k in missing), missing


def test_paper_run_leaves_the_default_model_out_and_checks_names(paper_cfg):
    from superweight.config import run_models

    assert "smollm2-135m" in paper_cfg["models"]  # merged in by Snakemake ...
    assert run_models(paper_cfg) == PAPER_MODELS  # ... and not run
    bad = copy.deepcopy(paper_cfg)
    bad["run_models"] = ["llama-7b", "llama7b"]
    with pytest.raises(ConfigError, match=r"`run_models` names 'llama7b', not under `models`.*Fix"):
        validate(bad, SCHEMA)


def test_default_report_lists_its_deviations(default_cfg, data_dir):
    rep = report(default_cfg, str(data_dir))
    differs = set(rep["differs"])
    # window length and count, limits, prompts, sweep points and blocks, dtype
    assert {"perplexity.seqlen", "perplexity.windows.wikitext2", "perplexity.windows.c4", "eval.limit",
            "analysis.scaling.limit", "quantization.weights.limit", "analysis.stopwords.n_prompts",
            "analysis.scaling.factors", "quantization.weights.blocks", "models.smollm2-135m.dtype"} <= differs
    by_key = {r["key"]: r for r in rep["settings"]}
    assert by_key["perplexity.seqlen"]["value"] == 512 and by_key["perplexity.seqlen"]["paper"] == 2048
    assert by_key["analysis.scaling.limit"]["value"] == 20  # the sweep's own limit, not null
    assert by_key["eval.add_bos_token"]["status"] == "same" and by_key["detection.threshold"]["status"] == "same"
    assert all(by_key[k]["status"] == "differs" for k in differs)
    c4 = next(f for f in rep["facts"] if f["fact"] == "C4 validation")
    assert c4["status"] == "differs" and "2,000-document sample" in c4["note"]
    md = markdown(rep)
    assert f"**{len(differs)} setting(s) differ from the paper:**" in md
    assert "| `perplexity.seqlen` | 512 | 2048 | differs |" in md


def test_paper_report_lists_only_data_facts(paper_cfg, data_dir):
    rep = report(paper_cfg, str(data_dir))  # the paper run on the shipped data
    assert rep["differs"] == []
    assert "**Every setting equals the paper's.**" in markdown(rep)
    assert [f["fact"] for f in rep["facts"] if f["status"] == "differs"] == ["C4 validation", "z calibration text",
                                                                              "lm-eval version"]
    rep = report(paper_cfg, None)  # from the Hub: the real C4 shard
    assert [f["fact"] for f in rep["facts"] if f["status"] == "differs"] == ["z calibration text", "lm-eval version"]


def test_missing_key_shows_not_set(default_cfg, data_dir):
    cfg = copy.deepcopy(default_cfg)
    del cfg["eval"]["add_bos_token"]
    del cfg["quantization"]
    rep = report(cfg, str(data_dir))
    by_key = {r["key"]: r for r in rep["settings"]}
    assert by_key["eval.add_bos_token"]["status"] == "not set"
    assert by_key["quantization.weights.blocks"]["status"] == "not set"
    assert "eval.add_bos_token" in rep["not_set"] and "eval.add_bos_token" not in rep["differs"]
    assert "| `eval.add_bos_token` | not set | false | not set |" in markdown(rep)


@pytest.mark.workflow
def test_protocol_rule_writes_the_report_without_torch(wf):
    """The localrule alone, through Snakemake; the report module imports no torch."""
    from helpers import snakemake

    r = subprocess.run([sys.executable, "-c", "import sys, superweight.protocol; print('torch' in sys.modules)"],
                       capture_output=True, text=True, env={"PYTHONPATH": str(REPO / "src")})
    assert r.stdout.strip() == "False", r.stderr
    r = snakemake(wf, "--cores", "1", "results/protocol.md")
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
    rep = json.loads((wf / "results/protocol.json").read_text())
    assert rep["models"] == ["smollm2-135m"] and "perplexity.seqlen" in rep["differs"]
    assert "| `perplexity.seqlen` | 512 | 2048 | differs |" in (wf / "results/protocol.md").read_text()


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
    # Fig. 6's twelve factors; x1 is the original model and x0 the prune_sw model, each scored once (their
    # evaluation settings agree in the paper run)
    assert counts["score_scaled"] + counts.get("reuse_scaled", 0) == 12 * n and counts.get("reuse_scaled") == 2 * n
    methods = yaml.safe_load((REPO / "config" / "config.yaml").read_text())["quantization"]["weights"]["methods"]
    for m in methods:  # Fig. 7's five block sizes, for every model and method
        for b in (16384, 65536, 262144, 1048576, "per_tensor"):
            assert all(f"results/{model}/wquant/int4/{m}/block{b}/scores.json" in out for model in PAPER_MODELS)
    assert counts["protocol"] == 1
