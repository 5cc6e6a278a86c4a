"""Data known by content (issue 38): jobs depend on the data's checksums and construction (their `data` param,
superweight.workflow.verify.data_identity), not on the directory's path; the verification cache is not fooled by
an edit whose modification time was put back."""
import os
import shutil
import time
from pathlib import Path

import pytest

from superweight.scoring.data import FILES, DataError
from superweight.workflow.verify import data_identity, shipped_checksums, verify_data

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
    it is refused; recorded (`data_checksums: record`), its new checksum is the one jobs depend on."""
    d = copy_data(data_dir, tmp_path / "data", ["lambada_openai"])
    cache = tmp_path / "cache.json"
    assert verify_data(d, ["lambada_openai"], "compare", cache)[LAMBADA] == shipped_checksums()[LAMBADA]
    time.sleep(0.05)  # past the clock tick of kernels with coarse file timestamps (the cache trusts no finer)
    edit_keeping_size_and_mtime(d / LAMBADA)
    with pytest.raises(DataError, match=r"lambada_test.jsonl differs from the shipped data"):
        verify_data(d, ["lambada_openai"], "compare", cache)
    got = verify_data(d, ["lambada_openai"], "record", cache)[LAMBADA]
    assert got != shipped_checksums()[LAMBADA]
    assert data_identity(d, ["lambada_openai"], "record", cache)["files"] == {LAMBADA: got}


def test_the_identity_is_content_not_path(tmp_path, data_dir):
    """The same files at two paths are one identity; it names each file read and how the corpora are built, and
    none of the directory's path; the Hub is an identity of its own."""
    a = copy_data(data_dir, tmp_path / "a", ["wikitext2", "lambada_openai"])
    b = copy_data(data_dir, tmp_path / "elsewhere" / "b", ["wikitext2", "lambada_openai"])
    ida = data_identity(a, ["wikitext2", "lambada_openai"], cache=tmp_path / "cache.json")
    assert ida == data_identity(b, ["lambada_openai", "wikitext2", "lambada_openai"], cache=tmp_path / "cache.json")
    assert set(ida["files"]) == {FILES["wikitext2"][0], LAMBADA} and set(ida["construction"]) == {"wikitext2"}
    assert str(tmp_path) not in repr(ida)
    hub = data_identity(None, ["wikitext2"])
    assert hub != ida and hub["construction"] == ida["construction"]


@pytest.mark.workflow
def test_the_same_data_elsewhere_plans_no_model_job(wf, tmp_path, data_dir):
    """On a finished run with Snakemake's records of each job (tests/helpers.py recorded_run), the data copied to another path plans no job; one file of
    the copy changed at the same size with its mtime put back plans again the jobs that read it, and only those
    (declared as the user's own data: compared, the change is refused at start, test above)."""
    from helpers import job_counts, merged, recorded_run, snakemake
    from superweight.workflow.config import needed_datasets, validate

    cfg = validate(merged(), REPO / "workflow/schemas/config.schema.yaml", check_files=False)
    moved = copy_data(data_dir, tmp_path / "scratch" / "data", needed_datasets(cfg))
    made = recorded_run(wf)
    assert "detect" in made.values() and "stopwords" in made.values()
    look = snakemake(wf, "-n", "--cores", "1", "--config", f"data_dir={moved}")
    out = look.stdout + look.stderr
    assert look.returncode == 0 and "Nothing to be done" in out, out[-3000:]
    assert "missing provenance" not in out  # the records were compared (a touched run alone has none)
    edit_keeping_size_and_mtime(moved / LAMBADA)
    look = snakemake(wf, "-n", "--cores", "1", "--config", f"data_dir={moved}", "data_checksums=record")
    out = look.stdout + look.stderr
    assert look.returncode == 0, out[-3000:]
    counts = job_counts(out)
    assert counts.get("stopwords") == 1 and counts.get("prepare_tasks") == 1 and counts.get("score", 0) >= 1, counts
    assert "params have changed since last execution" in out
    assert not {"detect", "tokenize_corpus", "prepare_model"} & set(counts), counts  # they read no LAMBADA
