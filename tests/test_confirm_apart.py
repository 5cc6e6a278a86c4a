"""Selection apart from evaluation: detection confirms its candidates on WikiText-2 *validation*, text no verdict
evaluates (the ablation's, the sweeps' and the mechanism experiments' WikiText-2 windows are cut from the test stream,
the C4 ones from the first perplexity.c4_docs documents), for the default and the paper config; config validation
refuses a confirmation corpus an evaluation shares; super_weights.json names the text it confirmed on."""
import re
from pathlib import Path

import pytest
import yaml
from snakemake.utils import update_config

from superweight.scoring.data import SPLITS, corpus_text, wikitext2_text, wikitext2_validation_text
from superweight.workflow.config import ConfigError, evaluated_corpora, validate

REPO = Path(__file__).resolve().parents[1]
SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"
SPAN = 32  # words: a shared span this long would be shared text, not a common phrase
TITLE = re.compile(r"^ = ([^=].*?) = $", re.M)  # a WikiText article's title line


def _cfg(paper: bool, data_dir, **confirm):
    c = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    if paper:
        update_config(c, yaml.safe_load((REPO / "config" / "paper.yaml").read_text()))
    c["data_dir"] = str(data_dir)
    c["detection"]["confirm"].update(confirm)
    return c


def _spans(text: str) -> set[int]:
    words = text.split()
    return {hash(" ".join(words[i:i + SPAN])) for i in range(len(words) - SPAN + 1)}


@pytest.mark.parametrize("paper", [False, True], ids=["default", "paper"])
def test_confirmation_text_and_every_evaluated_window_are_disjoint(paper, data_dir, monkeypatch):
    monkeypatch.delenv("SUPERWEIGHT_DATA", raising=False)
    cfg = validate(_cfg(paper, data_dir), SCHEMA)
    conf = cfg["detection"]["confirm"]
    assert conf["corpus"] == "wikitext2_validation"
    evaluated = evaluated_corpora(cfg)
    assert {"wikitext2", "c4"} <= set(evaluated) and conf["corpus"] not in evaluated
    confirmation = corpus_text(conf["corpus"], data_dir)
    assert confirmation == wikitext2_validation_text(data_dir) and confirmation != wikitext2_text(data_dir)
    # the confirmation's windows x seqlen tokens (a token is at least a character: within the text's first so many
    # characters... or fewer) all come from this text; every evaluated window comes from its corpus' text
    assert len(confirmation) >= conf["windows"] * conf["seqlen"]
    mine = _spans(confirmation)
    for corpus in evaluated:
        text = corpus_text(corpus, data_dir, cfg["perplexity"]["c4_docs"])
        assert not mine & _spans(text), f"confirmation text shares a {SPAN}-word span with the evaluated {corpus}"
    # WikiText-2: validation and test hold different articles
    val_titles, test_titles = set(TITLE.findall(confirmation)), set(TITLE.findall(wikitext2_text(data_dir)))
    assert len(val_titles) >= 50 and len(test_titles) >= 50 and not val_titles & test_titles


def test_the_span_check_sees_shared_text(data_dir):
    """The disjointness test above would fail on text the test stream contains (it is not vacuous)."""
    test = wikitext2_text(data_dir)
    assert _spans(test[100_000:105_000]) & _spans(test)
    assert not _spans("one two three " * 5) & _spans(test)


@pytest.mark.parametrize("corpus", ["wikitext2", "c4"])
def test_a_confirmation_corpus_an_evaluation_shares_is_refused(corpus, data_dir):
    with pytest.raises(ConfigError, match=rf"^`detection.confirm.corpus` is '{corpus}', which `perplexity.corpora` "
                                          r"evaluates: detection would choose the super weights on the text that judges "
                                          r"them. Fix: use 'wikitext2_validation'$"):
        validate(_cfg(False, data_dir, corpus=corpus), SCHEMA)
    # the other evaluations count too: C4 scored only by W8A8
    c = _cfg(False, data_dir, corpus="c4")
    c["perplexity"]["corpora"] = ["wikitext2"]
    c["perplexity"]["windows"] = {"wikitext2": 8}
    c["quantization"]["activations"]["corpora"] = ["wikitext2", "c4"]
    with pytest.raises(ConfigError, match="`quantization.activations.corpora` evaluates"):
        validate(c, SCHEMA)
    # a corpus no evaluation reads is allowed
    c["quantization"]["activations"]["corpora"] = ["wikitext2"]
    assert validate(c, SCHEMA)["detection"]["confirm"]["corpus"] == "c4"


def test_the_detection_record_names_the_text_it_confirmed_on():
    from superweight.detect.spikes import SpikeRule, detect_model
    from tiny import ToyTokenizer, plant, tiny_model

    model = plant(tiny_model("llama"), layer=1, row=5, col=17)
    text = "".join(chr(40 + i % 80) for i in range(64))  # ToyTokenizer: one id per character
    kw = dict(rule=SpikeRule("absolute", threshold=5.0), max_iters=2, seqlen=16, windows=2)
    s, _, _ = detect_model(model, ToyTokenizer(), text, corpus="wikitext2_validation", **kw)
    assert s["confirmed_on"] == {"corpus": "wikitext2_validation", "split": SPLITS["wikitext2_validation"]}
    assert "validation" in s["confirmed_on"]["split"] and "no verdict evaluates" in s["confirmed_on"]["split"]
    s, _, _ = detect_model(model, ToyTokenizer(), None, **kw)
    assert s["confirmed_on"] is None  # confirmation skipped: no text


def test_protocol_page_says_which_split_each_step_used(data_dir):
    from superweight.report.protocol import markdown, report

    cfg = validate(_cfg(True, data_dir), SCHEMA)
    rep = report(cfg, str(data_dir), {"m": {"confirmed_on": {"corpus": "wikitext2_validation",
                                                              "split": SPLITS["wikitext2_validation"]}}}, installed={})
    by = {(t["step"], t["corpus"]): t for t in rep["text_splits"]}
    conf = by[("detection's confirmation", "wikitext2_validation")]
    assert conf["role"] == "chooses" and "WikiText-2 raw validation" in conf["split"]
    assert by[("z: auto (weight quantization)", "wikitext2_validation")]["role"] == "chooses"
    assert "after the first perplexity.c4_docs" in by[("SmoothQuant calibration", "c4")]["split"]
    assert by[("Table 1 perplexity", "wikitext2")]["split"].startswith("WikiText-2 raw test")
    chosen_on = {t["corpus"] for t in rep["text_splits"] if t["role"] == "chooses" and t["corpus"] != "c4"}
    assert not chosen_on & {t["corpus"] for t in rep["text_splits"] if t["role"] == "evaluates"}
    md = markdown(rep)
    assert "## Text each step used" in md and "| detection's confirmation | chooses |" in md
