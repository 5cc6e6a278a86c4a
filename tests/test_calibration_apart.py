"""Calibration apart from evaluation: SmoothQuant's samples come from text no evaluated window contains (C4 documents
after the evaluated ones, or WikiText-2 validation), for the default and the paper config; an overlap is an error;
the samples feed SmoothQuant one forward pass each; W8A8 weights per channel as an option."""
import contextlib
import copy
from pathlib import Path

import pytest
import torch
import yaml
from snakemake.utils import update_config

from superweight.settings import JobSettings
from superweight.quant.tune_z import check_disjoint, smoothquant_texts
from superweight.workflow.config import validate
from superweight.scoring.data import c4_calibration_documents, c4_documents, corpus_text
from superweight.analysis.experiments import apply
from superweight.quant.w8a8 import W8A8, fake_quant_per_channel, fake_quant_per_tensor
from tiny import plant, tiny_model

REPO = Path(__file__).resolve().parents[1]
SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"


def _cfg(paper: bool, data_dir):
    c = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    if paper:
        update_config(c, yaml.safe_load((REPO / "config" / "paper.yaml").read_text()))
    c["data_dir"] = str(data_dir)
    return validate(c, SCHEMA)


@pytest.mark.parametrize("paper", [False, True], ids=["default", "paper"])
def test_calibration_and_evaluated_windows_are_disjoint(paper, data_dir, monkeypatch):
    monkeypatch.delenv("SUPERWEIGHT_DATA", raising=False)
    cfg = _cfg(paper, data_dir)
    cal, c4_docs = cfg["quantization"]["activations"]["calibration"], cfg["perplexity"]["c4_docs"]
    assert (cal["corpus"], cal["samples"], cal["seqlen"]) == (("c4", 512, 512) if paper else ("c4", 16, 512))
    evaluated = sorted(set(cfg["perplexity"]["corpora"]) | set(cfg["quantization"]["activations"]["corpora"]))
    texts = {c: corpus_text(c, data_dir, c4_docs) for c in evaluated}
    idx, samples = smoothquant_texts(cal["corpus"], data_dir, c4_docs, cal["samples"], cal["seed"], texts)
    # by construction: only documents after the evaluated ones, as many as asked, drawn with the seed
    assert len(idx) == cal["samples"] == len(set(idx)) and min(idx) >= c4_docs
    docs = c4_documents(data_dir)
    assert samples == [docs[i] for i in idx]
    # every evaluated C4 window is cut from the stream of the first c4_docs documents only
    assert texts.get("c4", " ".join(docs[:c4_docs])) == " ".join(docs[:c4_docs])
    # and checked: no sample occurs in the text of an evaluated corpus (which holds every evaluated window)
    for corpus in evaluated:
        assert not [x for x in samples if x.strip() in texts[corpus]], corpus
    # the same seed draws the same documents; another seed others
    assert c4_calibration_documents(data_dir, c4_docs, cal["samples"], cal["seed"])[0] == idx
    assert c4_calibration_documents(data_dir, c4_docs, cal["samples"], cal["seed"] + 1)[0] != idx


def test_overlap_with_an_evaluated_corpus_is_an_error(data_dir):
    idx, samples = c4_calibration_documents(data_dir, 1100, 4, 0)
    evaluated = {"c4": corpus_text("c4", data_dir, 1100) + " " + samples[2]}  # as if that document were evaluated
    with pytest.raises(ValueError, match=r"1 calibration example\(s\) occur in the evaluation corpus c4"):
        check_disjoint(samples, evaluated)
    # the rule's entry point checks too: were every shipped C4 document evaluated, every sample would overlap
    with pytest.raises(ValueError, match=r"16 calibration example\(s\) occur in the evaluation corpus c4"):
        smoothquant_texts("c4", data_dir, 1100, 16, 0, {"c4": " ".join(c4_documents(data_dir))})
    with pytest.raises(ValueError, match="lower quantization.activations.calibration.samples"):
        c4_calibration_documents(data_dir, 1100, 901, 0)  # the shipped sample has 900 documents after 1100


def test_wikitext2_validation_calibration_is_disjoint_from_the_test_split(data_dir):
    texts = {"wikitext2": corpus_text("wikitext2", data_dir)}
    idx, samples = smoothquant_texts("wikitext2_validation", data_dir, 1100, 64, 42, texts)
    assert len(samples) == 64 and all(s.strip() for s in samples)


def test_smoothquant_calibrates_on_the_given_samples_one_pass_each():
    """SmoothQuant's scales come from the calibration samples (each one forward pass), not from an evaluated
    corpus; the record says how many samples and tokens."""
    model = plant(tiny_model("llama"), 1, 5, 17)
    g = torch.Generator().manual_seed(0)
    examples = [torch.randint(4, 128, (n,), generator=g) for n in (12, 7, 20)]
    calls = []
    h = model.model.register_forward_pre_hook(lambda m, a, k: calls.append(k.get("input_ids", a[0] if a else None)),
                                              with_kwargs=True)
    cfg = {"quantization": {"activations": {"inputs": ["q", "k", "v", "gate", "up", "down"], "bmm": ["q", "k", "v"],
                                            "alpha": 0.85, "weight_granularity": "per_tensor"}}}
    with contextlib.ExitStack() as stack:
        rec = apply(model, "aquant", {"method": "smoothquant"}, [], JobSettings.from_dict(cfg), stack, {},
                    {"examples": examples, "record": {"corpus": "c4", "indices": [1200, 1300, 1400]}})
        h.remove()
    assert [len(c[0]) for c in calls] == [12, 7, 20]
    assert rec["calibration"]["samples"] == 3 and rec["calibration"]["tokens"] == 39
    assert rec["calibration"]["indices"] == [1200, 1300, 1400] and rec["smoothed_groups"] > 0
    with contextlib.ExitStack() as stack, pytest.raises(ValueError, match="calibration samples"):
        apply(plant(tiny_model("llama"), 1, 5, 17), "aquant", {"method": "smoothquant"}, [], JobSettings.from_dict(cfg), stack, {}, None)


def test_w8a8_weights_per_channel_option():
    torch.manual_seed(0)
    w = torch.randn(6, 16)
    w[2] *= 100  # one large channel: per tensor, the other rows lose almost all their levels
    per_t, per_c = fake_quant_per_tensor(w), fake_quant_per_channel(w)
    for r in range(6):  # per channel: each row's own absmax sets its step
        step = w[r].abs().max() / 127
        assert torch.allclose(per_c[r], torch.round(w[r] / step) * step)
    small = [r for r in range(6) if r != 2]
    assert (per_c[small] - w[small]).abs().max() < (per_t[small] - w[small]).abs().max() / 10
    model = tiny_model("llama")
    q = copy.deepcopy(model)
    with W8A8(q, 8, inputs=["down"], bmm=[], weight_granularity="per_channel"):
        got = q.model.layers[0].mlp.down_proj.weight
        assert torch.equal(got, fake_quant_per_channel(model.model.layers[0].mlp.down_proj.weight.float()))
    with pytest.raises(ValueError, match="weight_granularity: 'per_row' is not one of per_tensor, per_channel"):
        W8A8(model, 8, weight_granularity="per_row")
