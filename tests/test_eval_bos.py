"""eval.add_bos_token reaches lm-eval: with a tokenizer that adds a BOS by default, the token ids the model is fed
carry no BOS when false (the paper's lm-eval 0.4.3) and exactly one, first, when true."""
import json

import pytest
import torch

from superweight.scoring.zeroshot import evaluate
from tiny import tiny_model
from tiny_tokenizer import BOS, bos_tokenizer

DOCS = [{"q": "Is ice cold?", "choices": ["yes", "no"], "label": 0},
        {"q": "Is fire wet?", "choices": ["yes", "no"], "label": 1}]


def _task_dir(tmp_path):
    """A two-document multiple-choice task written in lm-eval's YAML format."""
    data = tmp_path / "tiny.jsonl"
    data.write_text("".join(json.dumps(d) + "\n" for d in DOCS))
    (tmp_path / "tiny_bos.yaml").write_text(
        f"task: tiny_bos\ndataset_path: json\ndataset_kwargs:\n  data_files:\n    test: {json.dumps(str(data))}\n"
        "output_type: multiple_choice\ntest_split: test\ndoc_to_text: \"Question: {{q}}\\nAnswer:\"\n"
        "doc_to_target: label\ndoc_to_choice: \"{{choices}}\"\nmetric_list:\n  - metric: acc\n"
        "metadata:\n  version: 1.0\n")
    return tmp_path


@pytest.mark.parametrize("add_bos", [False, True])
def test_requests_carry_a_bos_only_when_asked(tmp_path, add_bos):
    model, tok = tiny_model("llama"), bos_tokenizer()
    assert tok("Answer:")["input_ids"][0] == BOS  # the tokenizer adds one by default
    fed = []
    model.register_forward_pre_hook(lambda mod, args, kwargs: fed.append(
        (args[0] if args else kwargs["input_ids"]).clone()), with_kwargs=True)
    scores = evaluate(model, tok, {"tiny_bos": None}, _task_dir(tmp_path), batch_size=4, add_bos_token=add_bos)
    assert scores["tiny_bos"]["n"] == 2
    rows = torch.cat([f for f in fed])
    assert len(rows) == 4  # 2 documents x 2 choices
    per_row = (rows == BOS).sum(dim=1)
    if add_bos:
        assert per_row.tolist() == [1] * len(rows) and (rows[:, 0] == BOS).all()
    else:
        assert per_row.sum() == 0
