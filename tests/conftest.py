import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).parent))
# test this checkout's package, whichever checkout an editable install points at
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import pytest  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("SUPERWEIGHT_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def data_dir():
    if not (DATA / "wikitext2" / "wiki.test.raw").is_file():
        pytest.fail(f"evaluation data not found at {DATA}; set SUPERWEIGHT_DATA to the shared/data directory")
    return DATA


@pytest.fixture
def wf(tmp_path, data_dir):
    """A copy of the workflow (Snakefile, workflow/, config/, ...) in a temporary directory."""
    from test_workflow import copy_workflow

    return copy_workflow(tmp_path / "wf", data_dir)


# small limits for end-to-end runs of the default workflow

FAST = """
perplexity:
  seqlen: 512
  windows: {wikitext2: 4, c4: 4}
eval:
  limit: 50    # the default's ablation size: what the prune_sw claim needs to be decided (config.yaml)
detection:
  max_iters: 2
  confirm: {windows: 2}   # CI time: detection runs three times (SLURM, local, resume)
analysis:
  stopwords: {n_prompts: 40, top_k: 30}
  scaling: {factors: [0, 1, 1.5], limit: 20}
quantization:
  weights: {methods: [rtn, sw_aware], bits: [4], blocks: [1048576], limit: 10, corpora: [wikitext2],
            table6: {blocks: [1048576], factors: [1.5]}}
  activations: {methods: [fp, naive, sa_aware, smoothquant], limit: 10, corpora: [wikitext2]}
"""


@pytest.fixture(scope="session")
def ran(tmp_path_factory, data_dir):
    """The default workflow with FAST limits, run once locally from a copy of the checkout."""
    from test_workflow import copy_workflow, snakemake

    wf = copy_workflow(tmp_path_factory.mktemp("run") / "wf", data_dir)
    (wf / "config" / "fast.yaml").write_text(FAST)
    # ~34 min on CI's 2 cores (45 jobs); the cap only guards against a hung run, inside CI's 90 minutes
    r = snakemake(wf, "--cores", "2", "--configfile", "config/fast.yaml", timeout=3600)
    assert r.returncode == 0, (r.stdout + r.stderr)[-5000:]
    return wf


