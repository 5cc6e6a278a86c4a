"""The local lm-eval tasks render exactly as lm-eval's built-in definitions on the same documents."""
from pathlib import Path

import lm_eval
import pytest

from superweight.scoring.zeroshot import TASKS, materialize_tasks, task_manager

BUILTIN = Path(lm_eval.__file__).parent / "tasks"
BUILTIN_YAML = {"arc_easy": "arc/arc_easy.yaml", "arc_challenge": "arc/arc_challenge.yaml", "piqa": "piqa/piqa.yaml",
                "sciq": "sciq/sciq.yaml", "hellaswag": "hellaswag/hellaswag.yaml",
                "lambada_openai": "lambada/lambada_openai.yaml", "winogrande": "winogrande/default.yaml",
                "boolq": "super_glue/boolq/default.yaml"}


@pytest.fixture(scope="module")
def task_dir(data_dir, tmp_path_factory):
    return materialize_tasks(data_dir, tmp_path_factory.mktemp("tasks"))


@pytest.fixture(scope="module")
def head_task_dir(data_dir, tmp_path_factory):
    """The local tasks on each file's first 40 documents: rendering is per document, and lm-eval maps a task's
    whole file first (HellaSwag's 10,042 documents alone took 35 s)."""
    d = materialize_tasks(data_dir, tmp_path_factory.mktemp("tasks_head"))
    for f in d.glob("*.jsonl"):
        f.write_text("".join(f.read_text(encoding="utf-8").splitlines(keepends=True)[:40]), encoding="utf-8")
    return d


def _builtin_task(name, data_file):
    from lm_eval.api.task import ConfigurableTask
    from lm_eval.tasks._yaml_loader import load_yaml

    cfg = load_yaml(BUILTIN / BUILTIN_YAML[name])
    cfg.pop("tag", None)
    cfg.update(dataset_path="json", dataset_name=None, dataset_kwargs={"data_files": {"test": str(data_file)}},
               test_split="test", validation_split=None, training_split=None, fewshot_split=None)
    return ConfigurableTask(config=cfg)


@pytest.mark.parametrize("name", TASKS)
def test_local_task_renders_like_builtin(head_task_dir, name):
    local = task_manager(head_task_dir).load_task_or_group([name])[name]
    builtin = _builtin_task(name, head_task_dir / f"{name}.jsonl")
    docs_l, docs_b = list(local.test_docs())[:8], list(builtin.test_docs())[:8]
    assert len(docs_l) == 8
    for dl, db in zip(docs_l, docs_b):
        assert local.doc_to_text(dl) == builtin.doc_to_text(db)
        assert local.doc_to_target(dl) == builtin.doc_to_target(db)
        if builtin.OUTPUT_TYPE == "multiple_choice":
            assert local.doc_to_choice(dl) == builtin.doc_to_choice(db)
    assert [m["metric"] for m in local.config.metric_list] == [m["metric"] for m in builtin.config.metric_list]


def test_converted_rows_keep_answers(task_dir):
    """Spot checks of the conversion against the raw files (first ARC-Easy and PIQA rows)."""
    import json

    arc = json.loads((task_dir / "arc_easy.jsonl").read_text().splitlines()[0])
    assert arc["choices"]["label"][arc["choices"]["label"].index(arc["answerKey"])] == "A"
    assert arc["choices"]["text"][0] == "Sunlight is the source of energy for nearly all ecosystems."
    piqa = [json.loads(x) for x in (task_dir / "piqa.jsonl").read_text().splitlines()]
    assert len(piqa) == 1838 and {p["label"] for p in piqa} == {0, 1}
    boolq = [json.loads(x) for x in (task_dir / "boolq.jsonl").read_text().splitlines()]
    assert sum(b["label"] for b in boolq) == 2033  # 2033 true / 1237 false (data README)


def test_unknown_task(tmp_path, data_dir):
    with pytest.raises(ValueError, match="unknown task"):
        materialize_tasks(data_dir, tmp_path, ["mmlu"])
