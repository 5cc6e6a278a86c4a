import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).parent))

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
