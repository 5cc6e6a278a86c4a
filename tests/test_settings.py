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
            S.ActQuant: "quantization.activations", S.Detection: "detection", S.Confirm: "detection.confirm"}


def _schema(path: str) -> dict:
    node = SCHEMA
    for k in path.split("."):
        node = node["properties"][k]
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


def test_unknown_key_fails_naming_it_and_sections_are_read_only():
    with pytest.raises(TypeError, match="seq_len"):
        S.Perplexity.from_dict({"seq_len": 128})
    ppl = S.Perplexity.from_dict({"seqlen": 128, "windows": {"wikitext2": 3}})
    assert ppl.windows_of("wikitext2") == 3 and ppl.windows_of("c4") is None
    with pytest.raises(FrozenInstanceError):
        ppl.seqlen = 64
    with pytest.raises(TypeError):
        ppl.windows["c4"] = 1
