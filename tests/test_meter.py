"""What a job forwarded (issue 36): the meter counts the positions of every top-level forward pass by purpose, the
outermost purpose winning, and the loading seconds; runlog writes the record beside the job's log."""
import json
import logging

import torch

from superweight.models import meter
from superweight.models.adapters import LayerInputs, run_from
from superweight.models.load import load_model
from superweight.scoring.perplexity import perplexity
from tiny import tiny_model
from tiny_tokenizer import bos_tokenizer


def test_forwarded_tokens_are_counted_by_purpose(tmp_path, monkeypatch):
    monkeypatch.setattr(meter, "METER", meter.Meter())
    tiny_model("llama").save_pretrained(tmp_path)
    bos_tokenizer().save_pretrained(tmp_path)
    model, _ = load_model(tmp_path)
    assert meter.METER.load_s > 0 and meter.METER.first_load_at is not None
    ids = torch.randint(0, 100, (5 * 16 + 3,))
    perplexity(model, ids, seqlen=16, batch_size=2, progress=False)  # 5 windows of 16 in 3 batches
    with meter.purpose("confirmation"):  # confirmation's perplexity passes stay confirmation
        perplexity(model, ids, seqlen=16, max_windows=2, progress=False)
    with torch.no_grad():
        model(torch.zeros(1, 7, dtype=torch.long))
        # decoder layers run outside a whole forward (ablations from a recorded prefix): 2 of the 4 layers over
        # 2 x 16 positions count as 16 tokens
        x = torch.zeros(2, 16, dtype=torch.long)
        with LayerInputs.record(model) as inputs:
            model(x, use_cache=False)
        hidden = model.get_input_embeddings()(x)
        with meter.purpose("ablations"):
            run_from(model, hidden, 2, inputs)
    rec = meter.METER.record()
    assert rec["by_purpose"]["windows"]["tokens"] == 80 and rec["by_purpose"]["windows"]["calls"] == 3
    assert rec["by_purpose"]["confirmation"]["tokens"] == 32
    assert rec["by_purpose"]["other"]["tokens"] == 7 + 32
    assert rec["by_purpose"]["ablations"]["tokens"] == 16 and meter.METER.seconds["ablations"] > 0  # (unrounded)
    assert rec["tokens"] == 80 + 32 + 39 + 16 and rec["forward_s"] > 0
    assert rec["startup_s"] is not None and rec["startup_s"] >= 0


def test_the_record_is_written_beside_the_log(tmp_path, monkeypatch):
    from superweight.workflow.runlog import write_work_record

    m = meter.Meter()
    monkeypatch.setattr(meter, "METER", m)
    path = tmp_path / "job.log.work.json"
    write_work_record(logging.getLogger("t"), str(path))
    assert not path.exists()  # no model loaded: no record
    with meter.loading():
        pass
    m.tokens["windows"] += 10
    m.seconds["windows"] += 0.5
    write_work_record(logging.getLogger("t"), str(path))
    rec = json.loads(path.read_text())
    assert rec["tokens"] == 10 and rec["by_purpose"]["windows"]["forward_s"] == 0.5


def test_the_restores_first_pass_counts_the_layers_it_runs(monkeypatch):
    """A restored forward runs a first pass on layers 0..k before its decoder's (run_layers, from the decoder's
    pre-hook): layers run twice in one forward count as their positions x (k + 1) / all layers on top of the pass; a forward that raises leaves the count working.
    (Outside the restore, the same model counts 32 per pass: restored = 32 + 24.)"""
    from superweight.interventions.edits import zero_weights
    from superweight.interventions.restore import RestoreSuperActivation
    from tiny import L, plant

    monkeypatch.setattr(meter, "METER", meter.Meter())
    model = tiny_model("llama")
    sws = [(1, 5, 17), (2, 5, 30)]  # super weights in two layers: a first pass on layers 0..2 of L = 4
    for sw in sws:
        plant(model, *sw)
    meter.attach(model)
    restore = RestoreSuperActivation.capture(model, sws, "max")
    zero_weights(model, sws)
    ids = torch.randint(4, 100, (2, 16))
    with restore, torch.no_grad():
        model(ids)
    assert meter.METER.record()["tokens"] == 32 + 32 * 3 // L
    try:
        with torch.no_grad():
            model(torch.full((1, 4), 10_000))  # out of the vocabulary: the forward raises
    except Exception:  # noqa: BLE001
        pass
    with torch.no_grad():
        model(ids)
    assert meter.METER.record()["tokens"] == 32 + 24 + 4 + 32  # the failed call's positions, then the next pass
