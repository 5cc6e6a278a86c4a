"""Damaged results stop a run at start (issue 38): superweight.workflow.damaged on tiny result trees, and once
through a real Snakemake start in a workflow copy."""
import json
import re
from base64 import urlsafe_b64encode
from pathlib import Path

import pytest

from superweight.workflow.damaged import DamagedResult, check_results, damaged, kind_of, problem

M = "smollm2-135m"


def finished(root: Path) -> Path:
    """A finished run's result files, each as its writer leaves it (tiny)."""
    import torch

    r = root / "results"
    files = {
        f"{M}/detect/super_weights.json": {"status": "confirmed", "super_weights": [], "used": [], "n_layers": 30},
        f"{M}/ablation/prune_sw/scores.json": {"model": M, "kind": "ablation", "status": "done", "scores": {}},
        f"{M}/wquant/int4/rtn/block64/scores.json": {"model": M, "kind": "wquant", "status": "skipped", "reason": "x"},
        f"{M}/mechanism/significance.json": {"model": M, "status": "done"},
        f"{M}/stopwords/summary.json": {"model": M, "status": "done"},
        "protocol.json": {"rows": []},
        "reproduction.json": {"models": [M], "rows": []},
    }
    for rel, value in files.items():
        (r / rel).parent.mkdir(parents=True, exist_ok=True)
        (r / rel).write_text(json.dumps(value))
    (r / M / "detect" / "layer_maxima.csv").write_text('layer,max,note\n0,1.5,"a, b"\n1,2.0,c\n')
    (r / M / "corpora").mkdir()
    torch.save(torch.arange(10), r / M / "corpora" / "wikitext2.pt")
    (r / M / "logs").mkdir()
    (r / M / "logs" / "detect.json").write_text("{")  # logs are not results
    return r


def cut(path: Path, keep: float = 0.5):
    data = path.read_bytes()
    path.write_bytes(data[:int(len(data) * keep)])


def test_a_finished_run_is_not_damaged(tmp_path):
    r = finished(tmp_path)
    assert damaged(r, [M], tmp_path) == []
    check_results(r, [M], tmp_path)
    assert damaged(tmp_path / "no_results_yet", [M], tmp_path) == []


def test_truncated_super_weights_is_one_line_with_the_fix(tmp_path):
    r = finished(tmp_path)
    cut(r / M / "detect" / "super_weights.json")
    with pytest.raises(DamagedResult) as e:
        check_results(r, [M], tmp_path)
    msg = str(e.value)
    assert "\n" not in msg
    assert msg.startswith(f"{r.as_posix()}/{M}/detect/super_weights.json is damaged (not valid JSON: ")
    assert "nothing was run" in msg and "Fix: delete it and rerun: Snakemake rebuilds it (rule detect)" in msg


@pytest.mark.parametrize("rel,edit,why", [
    (f"{M}/ablation/prune_sw/scores.json", cut, "not valid JSON"),
    (f"{M}/ablation/prune_sw/scores.json", lambda p: p.write_text(json.dumps({"model": M, "kind": "ablation",
                                                                               "status": "done"})), "no `scores`"),
    (f"{M}/detect/super_weights.json", lambda p: p.write_text(json.dumps({"status": "confirmed"})),
     "no `super_weights`, `used`"),
    (f"{M}/mechanism/significance.json", lambda p: p.write_text("[]"), "a JSON list, not an object"),
    (f"{M}/stopwords/summary.json", lambda p: p.write_bytes(b""), "it is empty"),
    (f"{M}/detect/layer_maxima.csv", lambda p: p.write_bytes(p.read_bytes()[:-4]), "its last row is cut short"),
    (f"{M}/detect/layer_maxima.csv", lambda p: p.write_bytes(p.read_bytes()[:-2]), "its last row is cut short"),
    (f"{M}/corpora/wikitext2.pt", cut, "not a complete torch file"),
    ("reproduction.json", cut, "not valid JSON"),  # read by claims_html and the tables of paper models
])
def test_each_kind_of_damage_is_named(tmp_path, rel, edit, why):
    r = finished(tmp_path)
    edit(r / rel)
    got = damaged(r, [M], tmp_path)
    assert [(p, w) for p, w, _ in got if why in w] == [(f"{r.as_posix()}/{rel}", got[0][1])], got
    assert len(got) == 1


def test_every_damaged_file_is_counted(tmp_path):
    r = finished(tmp_path)
    cut(r / M / "detect" / "super_weights.json")
    cut(r / M / "ablation" / "prune_sw" / "scores.json")
    with pytest.raises(DamagedResult, match=r"super_weights.json is damaged .*; 1 more damaged: .*prune_sw/scores.json "
                                            r"\(delete them too\)"):
        check_results(r, [M], tmp_path)


def test_every_scored_kind_is_checked_with_its_writer():
    """Each result of superweight.paths (the restored wquant results too) is checked as its rule writes it."""
    from superweight import paths

    writers = {"ablation": "score", "scaling": "score_scaled", "wquant": "score_wquant,", "aquant": "score_aquant",
               "wquant_restored": "score_wquant_restored", "z": "tune_z"}
    ex = {"condition": "prune_sw", "factor": "1.5", "bits": "4", "wmethod": "rtn_keep_sw", "block": "64x64",
          "amethod": "fp"}
    for kind in paths.KINDS:
        rule, keys = kind_of(f"{M}/" + paths.scores(kind, **{f: ex[f] for f in paths.names(kind)}))
        assert writers[kind] in rule and keys == (("z",) if kind == "z" else ("model",)), kind


def test_what_is_not_read_is_not_checked(tmp_path):
    """Another model's results (not in this run), logs and files the check has no kind for are left alone."""
    r = finished(tmp_path)
    (r / "other-model" / "detect").mkdir(parents=True)
    (r / "other-model" / "detect" / "super_weights.json").write_text("{")
    (r / M / "benchmarks").mkdir()
    (r / M / "benchmarks" / "detect.csv").write_text("a,b\n1")
    (r / "tables").mkdir()
    (r / "tables" / "table5.csv").write_text("a,b\n1")
    assert damaged(r, [M], tmp_path) == []
    assert kind_of("tables/table5.csv") is None and kind_of(f"{M}/detect/super_weights.json")[0] == "detect"
    assert kind_of(f"{M}/mechanism/hadamard_channels.csv")[0] == "mechanism_hadamard"
    assert kind_of(f"{M}/mechanism/significance.json")[0] == "mechanism_significance"


def test_a_file_snakemake_marks_incomplete_is_its_own(tmp_path):
    """A job killed while writing leaves its output marked incomplete: Snakemake redoes that job itself."""
    r = finished(tmp_path)
    cut(r / M / "mechanism" / "significance.json")
    rel = f"{r.as_posix()}/{M}/mechanism/significance.json"
    assert [p for p, _, _ in damaged(r, [M], tmp_path)] == [rel]
    marker = tmp_path / ".snakemake" / "incomplete" / urlsafe_b64encode(rel.encode()).decode()
    marker.parent.mkdir(parents=True)
    marker.write_text(json.dumps({"external_jobid": None}))
    (marker.parent / "migration_underway").write_text("")  # Snakemake's own bookkeeping, not a path
    assert damaged(r, [M], tmp_path) == []


def test_problem_reads_unknown_suffixes_as_fine(tmp_path):
    p = tmp_path / "x.md"
    p.write_text("# cut sh")
    assert problem(p) is None


def _tree(d: Path) -> dict:
    return {str(p.relative_to(d)): (p.stat().st_size, p.stat().st_mtime_ns) for p in d.rglob("*") if p.is_file()}


@pytest.mark.workflow
def test_a_finished_run_with_a_truncated_result_stops_at_start(wf):
    """The issue's cases on a finished run (every file of the default target present: tests/helpers.py
    finished_run): a truncated super_weights.json, then a truncated prune_sw/scores.json, each stops
    `snakemake --profile profiles/local` in one line naming the file, before any job starts (onstart), and no file is
    deleted or changed; a dry run still looks; once the damaged file is deleted, a run plans its rule again."""
    from helpers import finished_run, job_counts, snakemake

    made = finished_run(wf)
    results = wf / "results"
    cases = [(f"results/{M}/detect/super_weights.json", "detect"), (f"results/{M}/ablation/prune_sw/scores.json",
                                                                   "score")]
    for rel, rule in cases:
        assert rel in made
        kept = (wf / rel).read_bytes()
        cut(wf / rel)
        before = _tree(results)
        run = snakemake(wf, "--profile", "profiles/local")
        out = run.stdout + run.stderr
        lines = [line for line in out.splitlines() if "damaged result: " in line]
        assert run.returncode != 0 and len(lines) == 1, out[-3000:]
        assert f"{rel} is damaged (not valid JSON" in lines[0] and "nothing was run" in lines[0], lines[0]
        assert f"Fix: delete it and rerun: Snakemake rebuilds it (rule {rule})" in lines[0], lines[0]
        assert "Traceback" not in out and not re.search(r"^\s*(local)?(rule|checkpoint) \w+:", out, re.M)  # no job
        assert _tree(results) == before  # nothing deleted, nothing rewritten
        look = snakemake(wf, "-n", "--cores", "1")
        said = look.stdout + look.stderr
        assert look.returncode == 0 and "damaged result" not in said, said[-3000:]
        (wf / rel).write_bytes(kept)
    (wf / cases[0][0]).unlink()  # deleted, the damaged file is rebuilt, and what is made from it
    look = snakemake(wf, "-n", "--cores", "1")
    counts = job_counts(look.stdout + look.stderr)
    assert counts.get("detect") == 1 and counts.get("score", 0) >= 1 and counts.get("claims") == 1, counts


@pytest.mark.workflow
def test_a_file_being_written_is_not_damaged(tmp_path):
    """While a job writes its output, Snakemake marks it incomplete (.snakemake/incomplete/): the half-written file
    is that job's, not a damaged result (read here from a real Snakemake's marker, not our own encoding of it)."""
    import subprocess
    import sys
    import time

    from helpers import workflow_env

    (tmp_path / "Snakefile").write_text('rule a:\n    output: "results/m/mechanism/significance.json"\n'
                                        '    shell: "printf \'[1, 2\' > {output}; sleep 60"\n')
    proc = subprocess.Popen([sys.executable, "-m", "snakemake", "--cores", "1"], cwd=tmp_path, env=workflow_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        out = tmp_path / "results" / "m" / "mechanism" / "significance.json"
        deadline = time.time() + 60
        while not (out.is_file() and out.stat().st_size) and time.time() < deadline:
            time.sleep(0.2)
        assert out.read_text() == "[1, 2"
        assert problem(out) and damaged(tmp_path / "results", ["m"], tmp_path) == []  # the marker is written first
    finally:
        import os
        import signal

        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


def _safetensors(path: Path, n_floats: int = 4) -> Path:
    """A safetensors file as the format lays it out: header length, JSON header, the tensor's bytes."""
    header = json.dumps({"w": {"dtype": "F32", "shape": [n_floats], "data_offsets": [0, 4 * n_floats]}}).encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(len(header).to_bytes(8, "little") + header + bytes(4 * n_floats))
    return path


def test_a_prepared_model_cut_short_is_damaged(tmp_path):
    """Every model job loads the prepared model: a truncated model.safetensors (its size against its header, the
    weights not read) or config.json is named, with prepare_model to rebuild it; a directory Snakemake marks
    incomplete (prepare_model killed) is Snakemake's."""
    r = finished(tmp_path)
    st = _safetensors(r / M / "model" / "model.safetensors")
    (r / M / "model" / "config.json").write_text(json.dumps({"model_type": "llama"}))
    (r / M / "model" / "tokenizer.json").write_text("{")  # not checked: read by the tokenizer library, large
    assert damaged(r, [M], tmp_path) == []
    import torch
    from safetensors.torch import save_file

    save_file({"a": torch.zeros(3, 5), "b": torch.ones(7, dtype=torch.float16)}, r / M / "model" / "shard2.safetensors",
              metadata={"format": "pt"})  # as the library writes one (save_pretrained)
    assert damaged(r, [M], tmp_path) == []
    size = st.stat().st_size
    st.write_bytes(st.read_bytes()[:-3])
    (path, why, rule), = damaged(r, [M], tmp_path)
    assert path.endswith(f"{M}/model/model.safetensors") and rule == "prepare_model", (path, why)
    assert why == f"{size - 3:,} bytes, but its header says {size:,}; truncated?"
    st.write_bytes(st.read_bytes()[:20])
    assert "its header is cut short (20 bytes)" in damaged(r, [M], tmp_path)[0][1]
    (r / M / "model" / "config.json").write_text('{"model_type": "ll')
    whys = [w for _, w, _ in damaged(r, [M], tmp_path)]  # upstream first: the config, then the weights
    assert len(whys) == 2 and whys[0].startswith("not valid JSON") and whys[1].startswith("its header is cut short")
    marker = tmp_path / ".snakemake" / "incomplete" / urlsafe_b64encode(f"{r.as_posix()}/{M}/model".encode()).decode()
    marker.parent.mkdir(parents=True)
    marker.write_text("{}")
    assert damaged(r, [M], tmp_path) == []


def test_each_kind_names_rules_the_workflow_has():
    """The fix names the rule that rebuilds a file: each must be a rule of workflow/rules/."""
    import re

    from superweight.workflow.damaged import KINDS

    rules_dir = Path(__file__).resolve().parents[1] / "workflow" / "rules"
    defined = {m for f in rules_dir.rglob("*.smk")
               for m in re.findall(r"^\s*(?:rule|checkpoint|use rule \w+ as) (\w+)", f.read_text(), re.M)}
    named = {r for _, rules, _ in KINDS for r in re.split(r", | or ", rules.format(exp="{exp}"))}
    named = {r for r in named if "{exp}" not in r} | {f"mechanism_{e}" for e in ("hadamard", "skip", "significance")}
    assert named <= defined, sorted(named - defined)
