"""superweight.paths: every result path built from one pattern per kind, and read back from it exactly."""
import ast
import fnmatch
import sys
from pathlib import Path, PurePosixPath

import pytest

from superweight import paths

EXAMPLE = {  # one value per field, as the run plan writes them (factors through runplan.factor_name)
    "condition": "prune_sw", "factor": "1.5", "bits": "4", "wmethod": "rtn_keep_sw", "block": "64x64",
    "amethod": "smoothquant",
}


def _example(kind):
    return {f: EXAMPLE[f] for f in paths.names(kind)}


@pytest.mark.parametrize("kind", list(paths.KINDS))
def test_scores_round_trips_through_fields(kind):
    rel = paths.scores(kind, **_example(kind))
    assert "{" not in rel and "*" not in rel
    assert paths.fields(kind, rel) == _example(kind)
    assert paths.find(kind, [rel, "detect/super_weights.json"]) == [(rel, _example(kind))]


@pytest.mark.parametrize("kind", list(paths.KINDS))
def test_a_path_of_another_kind_is_not_read_as_this_kind(kind):
    for other in paths.KINDS:
        if other != kind:
            assert paths.fields(kind, paths.scores(other, **_example(other))) is None, other


def test_every_scored_kind_is_one_file_name():
    assert all(PurePosixPath(p).name == paths.FILE for p in paths.SCORES.values())
    assert set(paths.KINDS) == set(paths.SCORES) | {"z"}


def test_the_wquant_glob_matches_no_restored_result():
    files = [paths.scores("wquant", bits=4, wmethod="rtn_keep_sw", block="8x8"),
             paths.scores("wquant_restored", bits=4, wmethod="rtn_keep_sw", block="8x8", factor="2"),
             paths.scores("wquant_restored", bits=4, wmethod="rtn_keep_sw", block="8x8", factor="1.5")]
    plain, restored = files[:1], files[1:]
    # fnmatch's '*' crosses '/': the plain glob read that way would also take the restored results
    assert fnmatch.filter(files, paths.glob("wquant")) == files
    assert [p for p in files if PurePosixPath(p).match(paths.glob("wquant"))] == plain  # pathlib: exact
    assert [p for p, _ in paths.find("wquant", files)] == plain
    assert [p for p, _ in paths.find("wquant_restored", files)] == sorted(restored)
    assert [f["factor"] for _, f in paths.find("wquant_restored", files)] == ["1.5", "2"]


def test_glob_and_find_with_some_fields_given(tmp_path):
    files = [paths.scores("wquant", bits=b, wmethod=m, block=k) for b in (3, 4) for m in ("rtn", "sw_aware")
             for k in ("64", "1024x1024")] + [paths.scores("scaling", factor=f) for f in ("1", "1.5", "2")]
    assert paths.glob("wquant", wmethod="rtn") == "wquant/int*/rtn/block*/scores.json"
    assert paths.glob("scaling") == "scaling/x*/scores.json"
    got = paths.find("wquant", files, wmethod="rtn", bits=4)
    assert [f for _, f in got] == [{"bits": "4", "wmethod": "rtn", "block": b} for b in ("1024x1024", "64")]
    for rel in files:  # on disk, pathlib's glob reads the same files as find
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("{}")
    on_disk = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.glob(paths.glob("wquant", wmethod="rtn")))
    assert on_disk == sorted(p for p, _ in paths.find("wquant", files, wmethod="rtn"))
    assert [f["factor"] for _, f in paths.find("scaling", files)] == ["1.5", "1", "2"]  # by path, as written


def test_a_field_that_would_cross_a_folder_is_not_read():
    assert paths.fields("ablation", "ablation/a/b/scores.json") is None
    assert paths.fields("scaling", "scaling/x1/scores.json.bak") is None
    assert paths.fields("wquant", "base/wquant/int4/rtn/block64/scores.json") is None  # an instruct model's base


def test_bad_kind_or_fields_name_the_fix():
    with pytest.raises(ValueError, match="unknown result kind 'quant': use one of ablation, "):
        paths.scores("quant", condition="x")
    with pytest.raises(ValueError, match=r"give exactly the fields bits, wmethod, block \(missing: block\)"):
        paths.scores("wquant", bits=4, wmethod="rtn")
    with pytest.raises(ValueError, match=r"\(unknown: method\)"):
        paths.glob("wquant", method="rtn")


def test_imports_only_the_standard_library():
    tree = ast.parse(Path(paths.__file__).read_text())
    imported = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert imported and imported <= set(sys.stdlib_module_names) | {"__future__"}, imported
