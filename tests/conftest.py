"""Test layers (markers in pyproject.toml): unmarked tests are unit tests (no subprocess, no real model, tiny
fixtures only); `workflow` starts Snakemake or a fresh Python process; `integration` runs the real packaged model
(the CI scenario `.test/ci.yaml`, run once per session by the `ran` fixture); `slurm` submits through the real
SLURM executor. The fastest useful run: `python -m pytest -m "not workflow and not integration and not slurm"`."""
import os
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
import pytest

from helpers import copy_workflow, snakemake

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("SUPERWEIGHT_DATA", REPO.parent / "shared" / "data"))
LAYERS = ("slurm", "integration", "workflow")


def layer(item) -> str:
    """The test's layer: its first marker among LAYERS, else unit."""
    return next((m for m in LAYERS if item.get_closest_marker(m)), "unit")


@pytest.fixture(autouse=True)
def _unit_tests_start_no_process(request, monkeypatch):
    """A unit test that starts Snakemake or another Python belongs in the `workflow` layer: fail it here."""
    if layer(request.node) != "unit":
        return
    real = subprocess.Popen

    def refuse(args, *a, **kw):
        argv = [str(x) for x in (args if isinstance(args, (list, tuple)) else [args])]
        if argv and (Path(argv[0]).name.startswith("python") or argv[0] == sys.executable
                     or any("snakemake" in x for x in argv)):
            raise AssertionError(f"a unit test started {' '.join(argv)[:120]}: mark it workflow (tests/conftest.py)")
        return real(args, *a, **kw)

    monkeypatch.setattr(subprocess, "Popen", refuse)


@pytest.fixture
def one_thread():
    """Torch on one thread for the test (exact comparisons of tiny models across families; no oversubscription)."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="session")
def data_dir():
    if not (DATA / "wikitext2" / "wiki.test.raw").is_file():
        pytest.fail(f"evaluation data not found at {DATA}: set SUPERWEIGHT_DATA to the shared/data directory "
                    f"(e.g. export SUPERWEIGHT_DATA=$PWD/../shared/data)")
    return DATA


@pytest.fixture
def wf(tmp_path, data_dir):
    """A copy of the workflow (Snakefile, workflow/, config/, .test/, ...) in a temporary directory."""
    return copy_workflow(tmp_path / "wf", data_dir)


@pytest.fixture(scope="session")
def ran(tmp_path_factory, data_dir):
    """The default workflow with the CI scenario (.test/ci.yaml), run once locally from a copy of the checkout."""
    wf = copy_workflow(tmp_path_factory.mktemp("run") / "wf", data_dir)
    # ~10 min on CI's 2 cores; the cap only guards against a hung run, inside CI's 90 minutes
    r = snakemake(wf, "--cores", "2", "--configfile", ".test/ci.yaml", timeout=2400)
    assert r.returncode == 0, (r.stdout + r.stderr)[-5000:]
    return wf


# --- time per layer, printed at the end of the session (README states it) ---

_SECONDS: dict[str, float] = defaultdict(float)
_COUNT: dict[str, int] = defaultdict(int)
_START = time.time()


def pytest_runtest_logreport(report):
    lay = next((m for m in LAYERS if m in report.keywords), "unit")
    _SECONDS[lay] += report.duration  # setup (shared fixtures: paid by the first test that asks), call, teardown
    if report.when == "call":
        _COUNT[lay] += 1


def pytest_terminal_summary(terminalreporter):
    if not _COUNT:
        return
    parts = [f"{lay} {_COUNT[lay]} tests {_SECONDS[lay]:.0f} s" for lay in ("unit", *reversed(LAYERS)) if _COUNT[lay]]
    terminalreporter.write_line(f"time per layer: {'; '.join(parts)}; session {time.time() - _START:.0f} s")


def pytest_collection_modifyitems(items):
    """Run the layers in order of cost (unit, workflow, integration, slurm): a broken unit fails in seconds."""
    order = {"unit": 0, "workflow": 1, "integration": 2, "slurm": 3}
    items.sort(key=lambda it: order[layer(it)])


@pytest.fixture
def small_n_machinery(monkeypatch):
    """The closed-form t / Welch / Fieller machinery at any n >= 2 (the library uses it only from its measured
    minimum n, MIN_N, and the exact sign test of the median below): for tests of the formulas themselves."""
    from superweight.stats import intervals

    for k in ("t", "welch", "fieller_t", "delta_share"):
        monkeypatch.setitem(intervals.MIN_N, k, 2)
    monkeypatch.setitem(intervals.MIN_N_AT_LEVEL, "t", ((0.0, 2),))
