"""A Hub model is used from the Hugging Face cache without a copy of its weights (issue 36): prepare_model links
the cached snapshot's files, and jobs load the model from the links in their configured dtype."""
import json

import torch

from superweight.models.load import link_hub_model, load_model, prepare_model
from superweight.models.sources import ModelSpec
from tiny import tiny_model
from tiny_tokenizer import bos_tokenizer


def _cached(tmp_path, repo="org/tiny-llama", commit="0123456789abcdef0123456789abcdef01234567"):
    """A Hub-layout cache (models--org--name/refs/main -> snapshots/<commit>/) holding a saved tiny model."""
    cache = tmp_path / "hub"
    root = cache / f"models--{repo.replace('/', '--')}"
    (root / "refs").mkdir(parents=True)
    (root / "refs" / "main").write_text(commit)
    snap = root / "snapshots" / commit
    model = tiny_model("llama")
    model.save_pretrained(snap)
    bos_tokenizer().save_pretrained(snap)
    return cache, snap, model


def test_hub_model_is_linked_not_copied_and_loads_in_its_dtype(tmp_path):
    cache, snap, model = _cached(tmp_path)
    out = link_hub_model(ModelSpec("hub", "org/tiny-llama"), tmp_path / "model", "float16", cache_dir=cache)
    weights = sorted(out.glob("*.safetensors"))
    assert weights and all(w.is_symlink() and w.resolve() == (snap / w.name).resolve() for w in weights)
    copied = [f for f in out.iterdir() if not f.is_symlink()]
    assert [f.name for f in copied] == ["source.json"]  # the only file written: where the links point
    assert json.loads((out / "source.json").read_text())["linked_from"] == str(snap)
    loaded, _ = load_model(out, dtype="float16")
    assert next(loaded.parameters()).dtype == torch.float16
    ref = model.state_dict()
    for k, v in loaded.state_dict().items():
        assert torch.equal(v, ref[k].to(torch.float16)), k


def test_prepare_model_of_a_hub_source_is_the_link(tmp_path, monkeypatch):
    """prepare_model (the workflow's rule) takes the link path for a Hub source: no save_pretrained of the weights."""
    import superweight.models.load as load

    cache, snap, _ = _cached(tmp_path)
    monkeypatch.setattr(load, "_from_source", lambda *a, **k: (_ for _ in ()).throw(AssertionError("loaded")))
    real = load.link_hub_model
    monkeypatch.setattr(load, "link_hub_model", lambda spec, out, dtype: real(spec, out, dtype, cache_dir=cache))
    out = prepare_model(ModelSpec("hub", "org/tiny-llama"), tmp_path / "model", "float32")
    assert all(f.is_symlink() for f in out.glob("*.safetensors"))
