"""The emergence sweep on tiny checkpoints the test builds: a planted weight growing over "training steps"."""
import pytest
import torch

from superweight.detect.spikes import SpikeRule
from superweight.analysis.emergence import EmergenceConfigError, check, crossing_step, measure, step_of, table
from superweight.report.emergence import verdict_emergence
from tiny import ToyTokenizer, plant, tiny_model

SW = (1, 5, 17)
# the planted weight grows with the step; with the detection threshold at 5, it crosses between 200 and 400
GROWTH = {"step100": 0.01, "step200": 0.02, "step400": 10.0, "step800": 40.0}


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    root = tmp_path_factory.mktemp("ckpts")
    for rev, w in GROWTH.items():
        model = plant(tiny_model("llama"), *SW, weight=w)
        model.lm_head.weight.data.mul_(30.0)  # sharp predictions: zeroing a real super weight hurts
        model.save_pretrained(root / rev)
    return root


def test_sweep_finds_the_step_where_the_planted_weight_crosses_the_threshold(checkpoints):
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        tok = ToyTokenizer()
        rule = SpikeRule("absolute", threshold=5.0)
        ref_model, _ = _load(checkpoints / "step800")
        torch.manual_seed(0)  # the evaluation text: sampled from the final checkpoint (its "training data")
        text = ref_model.generate(torch.tensor([[1]]), do_sample=True, max_new_tokens=127, min_new_tokens=127,
                                  pad_token_id=0)[0]
        ref = measure(ref_model, tok, text, "Apple Inc. is a worldwide tech company.", rule, 3, 1.5, 32, 4)
        assert ref["super_weights"] == [list(SW)]
        points = []
        for rev in GROWTH:
            model, _ = _load(checkpoints / rev)
            m = measure(model, tok, text, "Apple Inc. is a worldwide tech company.", rule, 3, 1.5, 32, 4,
                        track=[tuple(c) for c in ref["super_weights"]])
            points.append({"revision": rev, "step": step_of(rev), **m})
    finally:
        torch.set_num_threads(n)
    rows = table(points)
    assert [r["step"] for r in rows] == [100, 200, 400, 800]
    assert [r["weight_abs"] for r in rows] == pytest.approx([0.01, 0.02, 10.0, 40.0])
    assert [r["detected"] for r in rows] == [False, False, True, True]
    assert crossing_step(rows) == 400
    assert rows[-1]["sa_abs"] > 10 * rows[0]["sa_abs"] and rows[-1]["ppl_ratio"] > rows[0]["ppl_ratio"]
    v = verdict_emergence(rows)
    assert v["verdict"] == "holds" and v["crossing_step"] == 400, v


def _load(path):
    """A checkpoint from its directory (no tokenizer saved: the toy tokenizer stands in)."""
    import transformers as tf

    return tf.AutoModelForCausalLM.from_pretrained(path).eval(), None


def test_crossing_and_verdicts_by_hand():
    r = lambda s, d, sws=([1, 2, 3],): {"step": s, "detected": d, "weight_abs": 1.0, "ppl_ratio": 2.0,  # noqa: E731
                                        "super_weights": list(sws)}
    assert crossing_step([r(1, False), r(2, True), r(3, False), r(4, True)]) == 4
    assert verdict_emergence([r(1, False), r(2, True), r(3, False), r(4, True)])["verdict"] == "inconclusive"
    assert verdict_emergence([r(1, True), r(2, True)])["verdict"] == "inconclusive"
    assert verdict_emergence([r(1, False), r(2, False, [])])["verdict"] == "not applicable"


def test_config_checks():
    assert step_of("step143000") == 143000 and step_of("main", {"main": 5}) == 5
    with pytest.raises(EmergenceConfigError, match="emergence.steps"):
        step_of("main")
    with pytest.raises(EmergenceConfigError, match="training order"):
        check({"revisions": ["step2000", "step1000"]})
    with pytest.raises(EmergenceConfigError, match="at least two"):
        check({"revisions": ["step1"]})
    assert check({"revisions": ["step1", "step2"]})["reference"] == "step2"


def test_checkpoint_source_is_read_from_the_typed_section(monkeypatch):
    """load_checkpoint reads the emergence job's typed settings: a local source fills the revision into its
    directory, a Hub source passes the revision, the dtype travels; an unknown source names the key."""
    import superweight.models.load as load
    from superweight.analysis.emergence import load_checkpoint
    from superweight.settings import Emergence

    got = []
    monkeypatch.setattr(load, "load_spec", lambda spec, dtype, device: got.append((spec, dtype, device)) or (1, 2))
    job = {"source": "local", "id": "/ckpt/{revision}", "dtype": "bfloat16", "steps": {"a": 1}, "corpus": "wikitext2",
           "detection": {"prompt": "x", "confirm": {"windows": 2}}}
    assert load_checkpoint(Emergence.from_dict(job), "step800") == (1, 2)
    spec, dtype, device = got[-1]
    assert (spec.source, spec.id, dtype, device) == ("local", "/ckpt/step800", "bfloat16", "cpu")
    load_checkpoint(Emergence.from_dict({**job, "source": "hub", "id": "org/m"}), "step8")
    assert (got[-1][0].source, got[-1][0].id, got[-1][0].revision) == ("hub", "org/m", "step8")
    with pytest.raises(EmergenceConfigError, match="emergence.source"):
        load_checkpoint(Emergence.from_dict({**job, "source": "ftp"}), "step8")
