"""Data known by content (issue 38): the verification cache is not fooled by an edit whose modification time was
put back."""
import os
import shutil
import time
from pathlib import Path

import pytest

from superweight.scoring.data import FILES, DataError
from superweight.workflow.verify import shipped_checksums, verify_data

REPO = Path(__file__).resolve().parents[1]
LAMBADA = FILES["lambada_openai"][0]


def copy_data(src: Path, dest: Path, datasets) -> Path:
    """A real copy (new paths, new modification times) of the datasets' files."""
    for rel in sorted({f for d in datasets for f in FILES[d]}):
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src / rel, dest / rel)
    return dest


def edit_keeping_size_and_mtime(path: Path) -> None:
    """Two letters of the first LAMBADA text swapped: the same size, still JSON lines, and the modification time
    put back as it was (what `touch -r` or a restored backup does)."""
    st = path.stat()
    data = path.read_bytes()
    i = data.index(b"the ")
    path.write_bytes(data[:i] + b"teh " + data[i + 4:])
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert path.stat().st_size == st.st_size and path.stat().st_mtime_ns == st.st_mtime_ns


def test_a_restored_mtime_does_not_fool_the_cache(tmp_path, data_dir):
    """A cached file edited at the same size with its mtime put back is hashed again (its ctime moved): compared,
    it is refused; recorded (`data_checksums: record`), its new checksum is recorded."""
    d = copy_data(data_dir, tmp_path / "data", ["lambada_openai"])
    cache = tmp_path / "cache.json"
    assert verify_data(d, ["lambada_openai"], "compare", cache)[LAMBADA] == shipped_checksums()[LAMBADA]
    time.sleep(0.05)  # past the clock tick of kernels with coarse file timestamps (the cache trusts no finer)
    edit_keeping_size_and_mtime(d / LAMBADA)
    with pytest.raises(DataError, match=r"lambada_test.jsonl differs from the shipped data"):
        verify_data(d, ["lambada_openai"], "compare", cache)
    assert verify_data(d, ["lambada_openai"], "record", cache)[LAMBADA] != shipped_checksums()[LAMBADA]

