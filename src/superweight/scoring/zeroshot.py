"""Zero-shot accuracy with lm-eval on the in-memory (modified) model.

Offline, the tasks are local YAMLs with the prompts, splits and metrics of lm-eval's built-ins,
reading files converted once from the data directory to the Hub datasets' schema."""
from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

from superweight.scoring.data import FILES, check_data
from superweight.models.meter import counted_as

log = logging.getLogger(__name__)
FIXED_CHOICES = ("zeroshot.zero_shot",)  # the protocol page's rows (report.fixed_choices)

TASKS = ("arc_challenge", "arc_easy", "hellaswag", "lambada_openai", "piqa", "sciq", "winogrande", "boolq")

ACC = "metric: acc\n    aggregation: mean\n    higher_is_better: true"
ACC_NORM = "metric: acc_norm\n    aggregation: mean\n    higher_is_better: true"

# prompt parts copied from lm-eval's built-in task YAMLs (0.4.x)
_YAML = {
    "arc_easy": ('doc_to_text: "Question: {{question}}\\nAnswer:"\ndoc_to_target: "{{choices.label.index(answerKey)}}"\n'
                 'doc_to_choice: "{{choices.text}}"', [ACC, ACC_NORM]),
    "piqa": ('doc_to_text: "Question: {{goal}}\\nAnswer:"\ndoc_to_target: label\ndoc_to_choice: "{{[sol1, sol2]}}"',
             [ACC, ACC_NORM]),
    "sciq": ('doc_to_text: "{{support.lstrip()}}\\nQuestion: {{question}}\\nAnswer:"\ndoc_to_target: 3\n'
             'doc_to_choice: "{{[distractor1, distractor2, distractor3, correct_answer]}}"', [ACC, ACC_NORM]),
    "hellaswag": ('process_docs: !function sw_task_utils.hellaswag_process_docs\ndoc_to_text: "{{query}}"\n'
                  'doc_to_target: "{{label}}"\ndoc_to_choice: "choices"', [ACC, ACC_NORM]),
    "winogrande": ("doc_to_text: !function sw_task_utils.winogrande_doc_to_text\n"
                   "doc_to_target: !function sw_task_utils.winogrande_doc_to_target\n"
                   "doc_to_choice: !function sw_task_utils.winogrande_doc_to_choice", [ACC]),
    "lambada_openai": ("doc_to_text: \"{{text.split(' ')[:-1]|join(' ')}}\"\n"
                       "doc_to_target: \"{{' '+text.split(' ')[-1]}}\"",
                       ["metric: perplexity\n    aggregation: perplexity\n    higher_is_better: false", ACC]),
    "boolq": ('doc_to_text: "{{passage}}\\nQuestion: {{question}}?\\nAnswer:"\ndoc_to_target: label\n'
              'doc_to_choice: ["no", "yes"]', ["metric: acc"]),
}
_YAML["arc_challenge"] = _YAML["arc_easy"]


def _read_jsonl(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def convert_task(task: str, data_dir: Path) -> list[dict]:
    """``_convert``, with a file that cannot be read as the task's data (truncated, edited, another dataset's) one
    DataError line naming the task's files and the fix."""
    from superweight.scoring.data import DataError

    try:
        rows = _convert(task, data_dir)
    except (ValueError, KeyError, TypeError, IndexError, UnicodeDecodeError) as e:
        first = next((line for line in str(e).splitlines() if line.strip()), "")
        names = ", ".join(str(data_dir / f) for f in FILES[task])
        raise DataError(f"task {task}: cannot read {names} ({type(e).__name__}: {first[:160]}). Fix: copy the file(s) "
                        "again from shared/data (`sha256sum -c MANIFEST.sha256` there checks them)") from None
    if not rows:
        raise DataError(f"task {task}: {data_dir / FILES[task][0]} has no documents. Fix: copy it again from shared/data")
    return rows


def _convert(task: str, data_dir: Path) -> list[dict]:
    """Rows of ``task`` in the schema of the Hub dataset lm-eval's built-in loads."""
    files = [data_dir / f for f in FILES[task]]
    if task in ("arc_easy", "arc_challenge"):
        return [{"id": r["id"], "question": r["question"]["stem"],
                 "choices": {"text": [c["text"] for c in r["question"]["choices"]],
                             "label": [c["label"] for c in r["question"]["choices"]]},
                 "answerKey": r["answerKey"]} for r in _read_jsonl(files[0])]
    if task == "piqa":
        labels = [int(x) for x in files[1].read_text().split()]
        rows = _read_jsonl(files[0])
        if len(labels) != len(rows):
            raise ValueError(f"piqa: {len(rows)} questions but {len(labels)} labels")
        return [{"goal": r["goal"], "sol1": r["sol1"], "sol2": r["sol2"], "label": y} for r, y in zip(rows, labels)]
    if task == "sciq":
        return json.loads(files[0].read_text(encoding="utf-8"))
    if task == "hellaswag":
        import datasets

        return [dict(r) for r in datasets.load_from_disk(str(files[0].parent))]
    if task == "boolq":
        return [{"question": r["question"], "passage": r["passage"], "idx": r["idx"], "label": int(r["label"])}
                for r in _read_jsonl(files[0])]
    if task in ("winogrande", "lambada_openai"):
        return _read_jsonl(files[0])
    raise ValueError(f"unknown task {task!r}; known: {', '.join(TASKS)}")


def materialize_tasks(data_dir: Path, out_dir: Path, tasks=TASKS) -> Path:
    """Write converted data and task YAMLs under ``out_dir`` (for TaskManager(include_path=out_dir))."""
    bad = [t for t in tasks if t not in TASKS]
    if bad:
        raise ValueError(f"unknown task(s) {bad}; known: {', '.join(TASKS)}")
    check_data(data_dir, list(tasks))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy(Path(__file__).parent / "tasks" / "sw_task_utils.py", out_dir / "sw_task_utils.py")
    for t in tasks:
        data_file = out_dir / f"{t}.jsonl"
        with open(data_file, "w", encoding="utf-8") as f:
            for row in convert_task(t, data_dir):
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
        body, metrics = _YAML[t]
        metric_list = "\n".join(f"  - {m}" for m in metrics)
        (out_dir / f"{t}.yaml").write_text(
            f"task: {t}\ndataset_path: json\ndataset_kwargs:\n  data_files:\n    test: {json.dumps(str(data_file))}\n"
            f"output_type: {'loglikelihood' if t == 'lambada_openai' else 'multiple_choice'}\ntest_split: test\n"
            f"{body}\nmetric_list:\n{metric_list}\nmetadata:\n  version: 1.0\n  source: superweight local copy of lm-eval's {t}\n"
        )
    return out_dir


def task_manager(task_dir: Path | None):
    from lm_eval.tasks import TaskManager

    if task_dir is None:  # online: lm-eval's built-in tasks
        return TaskManager()
    return TaskManager(include_path=str(task_dir), include_defaults=False)


@counted_as("zero_shot")
def evaluate(model, tok, tasks: dict[str, int | None], task_dir: Path | None, batch_size: int = 8,
             device: str = "cpu", add_bos_token: bool | None = False, backend: str = "hf") -> dict[str, dict]:
    """{task: {"acc", "acc_se", "acc_norm", "acc_norm_se", "n", "limit", "docs"}} for ``tasks`` = {name: limit or
    None}. ``docs`` keeps each document's outcome ({"doc_id": [...], "acc": [...], "acc_norm": [...]}) so that two
    conditions can be paired by doc_id and every table re-derived without rerunning the model; SEs are binomial.

    ``add_bos_token`` False encodes requests without special tokens, as the paper's lm-eval 0.4.3 did;
    0.4.13 left alone (None) follows the tokenizer's default (a BOS for Llama-style tokenizers).
    ``backend``: ``hf`` (lm-eval's HFLM) or ``cached`` (each shared context computed once; same numbers)."""
    from lm_eval import simple_evaluate

    from superweight.scoring.cached_backend import build_lm

    lm = build_lm(model, tok, backend, batch_size, device, add_bos_token)
    log.info("lm-eval backend %s; requests %s a BOS token (eval.add_bos_token=%s)", backend,
             "with" if add_bos_token else "without", add_bos_token)
    tm = task_manager(task_dir)
    scores = {}
    for task, limit in tasks.items():
        out = simple_evaluate(model=lm, tasks=[task], task_manager=tm, limit=limit, num_fewshot=0,
                              bootstrap_iters=0, log_samples=True)
        scores[task] = task_result(out["results"][task], out.get("samples", {}).get(task, []), limit)
        log.info("%s: acc %.4f ± %.4f (n=%s)", task, scores[task]["acc"], scores[task]["acc_se"], scores[task]["n"])
    return scores


def task_result(res: dict, samples: list[dict], limit) -> dict:
    """One task's aggregate (lm-eval's) with its binomial SE and the per-document outcomes, sorted by doc_id."""
    from superweight.scoring.accuracy import binomial_se

    samples = sorted(samples, key=lambda s: s["doc_id"])
    docs = {"doc_id": [int(s["doc_id"]) for s in samples]}
    out = {"n": len(samples), "limit": limit}
    for m in ("acc", "acc_norm"):
        value = res.get(f"{m},none")
        out[m] = value
        if value is None:
            continue
        docs[m] = [float(s[m]) for s in samples]
        if abs(sum(docs[m]) / max(len(docs[m]), 1) - value) > 1e-9:
            raise RuntimeError(f"per-document {m} does not average to lm-eval's {value} ({len(samples)} documents)")
        out[f"{m}_se"] = binomial_se(value, len(samples))
    out["docs"] = docs
    return out
