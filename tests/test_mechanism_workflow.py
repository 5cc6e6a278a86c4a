"""Dry runs of the mechanism experiments: the default run, the families config and the emergence sweep."""
import pytest

from helpers import snakemake

pytestmark = pytest.mark.workflow


def _counts(out):
    return {parts[0]: int(parts[1]) for parts in (line.split() for line in out.splitlines())
            if len(parts) == 2 and parts[1].isdigit()}


def test_default_run_renders_the_mechanism_experiments(wf):
    r = snakemake(wf, "-n", "--cores", "1")
    assert r.returncode == 0, r.stderr[-3000:]
    n = _counts(r.stdout + r.stderr)
    assert n["mechanism_hadamard"] == n["mechanism_skip"] == n["mechanism_significance"] == 1
    assert n["plot_mechanism"] == n["table_mechanism"] == 3
    assert "emergence_step" not in n


def test_families_config_runs_every_family(wf):
    r = snakemake(wf, "-n", "--cores", "1", "--configfile", "config/families.yaml")
    assert r.returncode == 0, r.stderr[-3000:]
    n = _counts(r.stdout + r.stderr)
    assert n["prepare_model"] == n["detect"] == n["mechanism_skip"] == 9  # 8 families + the default model


def test_emergence_config_sweeps_every_checkpoint(wf):
    import yaml

    revs = yaml.safe_load((wf / "config" / "emergence.yaml").read_text())["emergence"]["revisions"]
    r = snakemake(wf, "emergence", "-n", "--cores", "1", "--configfile", "config/emergence.yaml")
    assert r.returncode == 0, r.stderr[-3000:]
    n = _counts(r.stdout + r.stderr)
    assert n["emergence_reference"] == 1 and n["emergence_step"] == len(revs) and n["emergence"] == 1


@pytest.mark.parametrize("override,message", [
    ("emergence: {name: x, source: hub, id: a/b, revisions: [step2, step1]}\n", "config error: `emergence.revisions` must be in training order"),
    ("emergence: {name: x, source: hub, id: a/b, revisions: [step1, step2], reference: step9}\n", "is not one of `emergence.revisions`"),
    ("mechanism: {skip: {offsets: [0]}}\n", "config error: `mechanism.skip.offsets.0`"),
])
def test_bad_mechanism_config_stops_with_one_message(wf, override, message):
    (wf / "bad.yaml").write_text(override)
    r = snakemake(wf, "-n", "--cores", "1", "--configfile", "bad.yaml")
    out = r.stdout + r.stderr
    assert r.returncode != 0 and message in out, out[-2000:]
    assert "Traceback" not in out
