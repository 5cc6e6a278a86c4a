"""Raw results are targets (issue 38 item 3): every file a planned job writes, apart from the inputs prepared for
model jobs, is a target of `all`, so that a job killed after what is made from its outputs was made (its outputs
deleted by Snakemake, the figure and table still there) is rerun by a plain `snakemake`. Dry runs, no job."""
import re

import pytest

from helpers import finished_run, job_counts, outputs_and_targets, snakemake

pytestmark = pytest.mark.workflow

# inputs prepared for model jobs, rebuilt whenever a job that reads them runs (common.smk, raw_outputs)
PREPARED = re.compile(r"results/[^/]+/(model|corpora/[^/]+|aquant/calibration\.(pt|json))$|results/tasks$")


@pytest.mark.parametrize("configfiles", [[], [".test/ci.yaml"], ["config/emergence.yaml"], ["config/paper.yaml"],
                                         ["config/families.yaml"]],
                         ids=["default", "ci", "emergence", "paper", "families"])
def test_every_result_a_job_writes_is_a_target(wf, configfiles):
    r = snakemake(wf, "-n", "--cores", "1", *(["--configfile", *configfiles] if configfiles else []))
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-3000:]
    made, targets = outputs_and_targets(out)
    assert targets and len(made) > 50, out[-3000:]
    missing = sorted(f"{rule}: {f}" for f, rule in made.items() if f not in targets and not PREPARED.search(f))
    assert not missing, missing
    assert not targets - set(made), sorted(targets - set(made))  # `all` asks for nothing no job writes


def test_a_killed_jobs_outputs_are_rebuilt_by_a_plain_rerun(wf):
    """The issue's case: every file of a finished run present (tests/helpers.py finished_run), then
    a killed mechanism_significance job's outputs gone (Snakemake deletes a failed job's outputs): a plain
    `snakemake` plans that job again, and what is made from its outputs."""
    finished_run(wf)
    r = snakemake(wf, "-n", "--cores", "1")
    assert "Nothing to be done" in r.stdout + r.stderr, (r.stdout + r.stderr)[-3000:]
    for f in ("significance.json", "significance.csv"):
        (wf / "results" / "smollm2-135m" / "mechanism" / f).unlink()
    r = snakemake(wf, "-n", "--cores", "1")
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-3000:]
    assert job_counts(out) == {"mechanism_significance": 1, "plot_mechanism": 1, "table_mechanism": 1, "claims": 1,
                               "reproduction": 1, "claims_html": 1, "all": 1, "total": 7}, out[-3000:]
