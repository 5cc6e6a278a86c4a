"""The command line: a planted super weight printed as a table; every bad input one line and exit code 2."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from superweight import __version__
from superweight.cli import _data_dir, main

REPO = Path(__file__).resolve().parents[1]


def _local(tmp_path, model_type="llama"):
    d = tmp_path / "model"
    d.mkdir()
    (d / "config.json").write_text(json.dumps({"model_type": model_type, "num_hidden_layers": 2, "hidden_size": 8,
                                               "num_attention_heads": 2, "intermediate_size": 16}))
    return d


def _one_line_exit_2(capsys, argv, message):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("superweight: error: ") and message in err[0], err


def test_version_and_help_show_every_default(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0 and capsys.readouterr().out.strip() == f"superweight {__version__}"
    with pytest.raises(SystemExit):
        main(["detect", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for opt, default in [("--threshold", "50.0"), ("--ratio", "1000.0"), ("--max-iters", "3"), ("--factor", "2.0"),
                         ("--seqlen", "512"), ("--windows", "4"), ("--dtype", "float32"), ("--device", "cpu"),
                         ("--rule", "absolute"), ("--data-dir", "None")]:
        assert opt in text and f"(default: {default})" in text, opt


@pytest.mark.parametrize("args", [["--threshold", "0"], ["--ratio", "1"], ["--max-iters", "0"], ["--factor", "0.5"],
                                  ["--seqlen", "1"], ["--windows", "x"], ["--device", "gpu"], ["--rule", "median"]])
def test_out_of_range_options_are_usage_errors(capsys, args):
    with pytest.raises(SystemExit) as e:
        main(["detect", "m", *args])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()  # one line: no usage block before it
    assert len(err) == 1 and f"argument {args[0]}" in err[0] and "Fix: see `superweight detect --help`" in err[0], err


def test_missing_directory_is_not_taken_for_a_hub_id(capsys, tmp_path):
    _one_line_exit_2(capsys, ["detect", str(tmp_path / "no-such-model"), "--no-confirm"], "does not exist")
    _one_line_exit_2(capsys, ["detect", "./no-such-model", "--no-confirm"], "does not exist")


def test_unsupported_family(capsys, tmp_path):
    _one_line_exit_2(capsys, ["detect", str(_local(tmp_path, "bert")), "--no-confirm"],
                     "no architecture adapter for model_type 'bert'")


def test_missing_data(capsys, tmp_path, monkeypatch):
    monkeypatch.delenv("SUPERWEIGHT_DATA", raising=False)
    model = _local(tmp_path)
    (tmp_path / "empty").mkdir()
    _one_line_exit_2(capsys, ["detect", str(model), "--data-dir", str(tmp_path / "empty")],
                     "missing evaluation data file(s)")
    _one_line_exit_2(capsys, ["detect", str(model), "--data-dir", str(tmp_path / "nope")], "no such directory")


def test_data_dir_option_wins_over_environment(tmp_path, monkeypatch, data_dir):
    monkeypatch.setenv("SUPERWEIGHT_DATA", str(tmp_path / "elsewhere"))
    assert _data_dir(str(data_dir)) == data_dir.resolve()
    assert _data_dir(None) == (tmp_path / "elsewhere").resolve()


def test_detect_prints_the_planted_weight(capsys, tmp_path, monkeypatch):
    import superweight.models.load
    from tiny import ToyTokenizer, plant, tiny_model

    model = plant(tiny_model("llama"), layer=1, row=5, col=17)
    monkeypatch.setattr(superweight.models.load, "load_any", lambda *a, **k: (model, ToyTokenizer()))
    assert main(["detect", str(_local(tmp_path)), "--no-confirm", "--threshold", "5"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].endswith("(1 candidate(s), stopped: no spike)"), out
    header, rule, row = out[1].split(), out[2], out[3].split()
    assert header[:3] == ["layer", "row", "col"] and set(rule) <= {"-", " "}
    assert row[:3] == ["1", "5", "17"] and "unconfirmed" in out[3], out[3]


@pytest.mark.workflow
def test_console_script_exit_code(tmp_path):
    r = subprocess.run([sys.executable, "-m", "superweight.cli", "detect", str(tmp_path / "missing"), "--no-confirm"],
                       capture_output=True, text=True, env={"PYTHONPATH": str(REPO / "src"), "PATH": ""}, timeout=120)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "does not exist" in r.stderr, r.stderr


@pytest.mark.parametrize("split, corpus", [(None, "wikitext2_validation"), ("test", "wikitext2")])
def test_detect_confirms_on_the_validation_split_by_default(capsys, tmp_path, monkeypatch, data_dir, split, corpus):
    import superweight.detect.spikes
    import superweight.models.load
    from superweight.scoring.data import SPLITS, corpus_text
    from tiny import ToyTokenizer, tiny_model

    seen = {}

    def fake_detect(model, tok, text, *a, corpus=None, **k):
        seen.update(text=text, corpus=corpus)
        return {"status": "no confirmed super weight", "candidates": [], "stopped": "no spike",
                "confirmed_on": {"corpus": corpus, "split": SPLITS[corpus]}}, [], []

    monkeypatch.setattr(superweight.models.load, "load_any", lambda *a, **k: (tiny_model("llama"), ToyTokenizer()))
    monkeypatch.setattr(superweight.detect.spikes, "detect_model", fake_detect)
    args = ["detect", str(_local(tmp_path)), "--data-dir", str(data_dir), "--seqlen", "64"] + (
        ["--confirm-split", split] if split else [])
    assert main(args) == 0
    assert seen["corpus"] == corpus and seen["text"] == corpus_text(corpus, data_dir)
    assert capsys.readouterr().out.splitlines()[0].endswith(f"confirmed on {SPLITS[corpus]})")
