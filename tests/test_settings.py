"""The typed settings (superweight.settings) mirror the schema key for key, default for default, and every shipped
config builds them."""
from dataclasses import MISSING, FrozenInstanceError, fields

import pytest
import yaml

from helpers import REPO, merged
from superweight import settings as S
from superweight.workflow.config import validate

SCHEMA = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())
# each section class -> where its keys live in the schema (the emergence job's own keys are a subset: below)
SECTIONS = {S.Perplexity: "perplexity", S.Eval: "eval", S.Ablation: "ablation", S.PruneNonSW: "ablation.prune_nonsw",
            S.Sequential: "sequential", S.WeightQuant: "quantization.weights",
            S.ActQuant: "quantization.activations", S.Detection: "detection", S.Confirm: "detection.confirm",
            S.ZCalibration: "quantization.weights.calibration", S.Table6: "quantization.weights.table6",
            S.SmoothQuantCalibration: "quantization.activations.calibration", S.Quantization: "quantization",
            S.Analysis: "analysis", S.Stopwords: "analysis.stopwords", S.Scaling: "analysis.scaling",
            S.Propagation: "analysis.propagation", S.CaseStudy: "analysis.case_study", S.Mechanism: "mechanism",
            S.Skip: "mechanism.skip", S.Significance: "mechanism.significance", S.Stats: "stats", S.Plots: "plots",
            S.Resources: "resources", S.Model: "models.*", S.EmergenceSweep: "emergence", S.Config: ""}


def _schema(path: str) -> dict:
    """The schema node at a dotted path (``*``: a mapping's values; "": the whole config)."""
    node = SCHEMA
    for k in filter(None, path.split(".")):
        node = node["additionalProperties"] if k == "*" else node["properties"][k]
    return node


@pytest.mark.parametrize("cls", SECTIONS, ids=lambda c: c.__name__)
def test_fields_are_the_schema_keys_with_its_defaults(cls):
    node = _schema(SECTIONS[cls])
    assert {f.name for f in fields(cls)} == set(node["properties"])
    for f in fields(cls):
        ours = f.default if f.default is not MISSING else (
            f.default_factory() if f.default_factory is not MISSING else MISSING)
        theirs = node["properties"][f.name].get("default", MISSING)
        if theirs is MISSING:
            assert f.name in node.get("required", []) or ours is None or isinstance(ours, S.Section), f.name
            continue
        ours = ours.as_dict() if isinstance(ours, S.Section) else S.plain(ours)
        if isinstance(ours, dict) and isinstance(theirs, dict):
            assert ours == {**ours, **theirs}, f.name  # a nested section: the schema's default keys agree
        else:
            assert ours == theirs, f.name


def test_emergence_job_keys_are_the_schema_keys():
    node = _schema("emergence")
    own = {f.name for f in fields(S.Emergence)} - {"detection"}
    assert own <= set(node["properties"])
    for f in fields(S.Emergence):
        if f.name in node["properties"] and "default" in node["properties"][f.name]:
            assert f.default == node["properties"][f.name]["default"], f.name


CONFIGS = ["config/paper.yaml", "config/families.yaml", "config/emergence.yaml", ".test/ci.yaml", None]


@pytest.mark.parametrize("overlay", CONFIGS)
def test_every_shipped_config_builds_every_section(overlay):
    cfg = validate(merged(yaml.safe_load((REPO / overlay).read_text())) if overlay else merged(),
                   REPO / "workflow/schemas/config.schema.yaml", check_files=False)
    job = S.JobSettings.from_dict({k: cfg[k] for k in ("perplexity", "eval", "ablation", "quantization")}
                                  | ({"sequential": cfg["sequential"]} if cfg.get("sequential") else {}))
    assert job.perplexity.seqlen == cfg["perplexity"]["seqlen"]
    assert job.eval.tasks == tuple(cfg["eval"]["tasks"])
    assert job.ablation.prune_nonsw.amount == cfg["ablation"]["prune_nonsw"]["amount"]
    assert job.quantization.weights.blocks == tuple(cfg["quantization"]["weights"]["blocks"])
    assert S.Detection.from_dict(cfg["detection"]).confirm.windows == cfg["detection"]["confirm"]["windows"]
    # back to the config's own data, unchanged
    assert job.perplexity.as_dict() == cfg["perplexity"]
    assert job.quantization.activations.as_dict() == cfg["quantization"]["activations"]
    # the whole config typed: every section, every model; as written but for the optional keys it leaves unset
    whole = S.Config.from_dict(cfg)
    assert _set(whole.as_dict()) == _set(cfg)
    assert whole.analysis.scaling.factors == tuple(cfg["analysis"]["scaling"]["factors"])
    assert whole.quantization.weights.table6.blocks == tuple(cfg["quantization"]["weights"]["table6"]["blocks"])
    assert {m: v.dtype for m, v in whole.models.items()} == {m: v["dtype"] for m, v in cfg["models"].items()}
    assert (whole.emergence is None) == ("emergence" not in cfg)


def _set(d):
    """A config's data without the keys whose value is None (an optional key unset)."""
    return {k: _set(v) for k, v in d.items() if v is not None} if isinstance(d, dict) else d


def test_unknown_key_fails_naming_it_and_sections_are_read_only():
    with pytest.raises(TypeError, match="seq_len"):
        S.Perplexity.from_dict({"seq_len": 128})
    ppl = S.Perplexity.from_dict({"seqlen": 128, "windows": {"wikitext2": 3}})
    assert ppl.windows_of("wikitext2") == 3 and ppl.windows_of("c4") is None
    with pytest.raises(FrozenInstanceError):
        ppl.seqlen = 64
    with pytest.raises(TypeError):
        ppl.windows["c4"] = 1
    with pytest.raises(TypeError, match="pacakge"):  # a model's keys too
        S.Config.from_dict({"models": {"m": {"source": "hub", "id": "a/b", "pacakge": "x"}}})


def test_rates_read_the_typed_resources_section():
    from superweight.workflow.resources import Rates

    assert Rates() == Rates.from_config({}) == Rates.of(S.Resources())
    r = Rates.from_config({"resources": {"cpu_gflops": 75, "max_runtime": 60}})
    assert (r.cpu_flops, r.max_runtime_min, r.gpu_flops) == (75e9, 60, S.Resources().gpu_tflops * 1e12)
