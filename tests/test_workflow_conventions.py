"""What Snakemake users expect of a workflow: lint clean, a light submit host, cluster threads as asked, a current
rule graph, benchmarks on every rule, a schema that parses as written and a config README that matches it."""
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from helpers import snakemake, workflow_env

REPO = Path(__file__).resolve().parents[1]
SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"


def _rule_bodies():
    for smk in sorted((REPO / "workflow/rules").glob("*.smk")):
        for m in re.finditer(r"^rule (\w+):\n(.*?)(?=^\S|\Z)", smk.read_text(), re.S | re.M):
            yield m.group(1), m.group(2)


def test_schema_has_no_null_keys():
    """A description with a comma inside a YAML flow mapping parses into a stray key with value null."""
    bad = []

    def walk(x, path):
        if isinstance(x, dict):
            for k, v in x.items():
                if v is None and k != "default":
                    bad.append(f"{'.'.join(map(str, path))}: {k!r}")
                walk(v, path + [k])
        elif isinstance(x, list):
            for i, v in enumerate(x):
                walk(v, path + [i])

    walk(yaml.safe_load(SCHEMA.read_text()), [])
    assert not bad, "quote these descriptions: " + "; ".join(bad)


def test_config_readme_is_generated_from_the_schema():
    from superweight.workflow.schema_doc import markdown, rows

    schema = yaml.safe_load(SCHEMA.read_text())
    undocumented = [k for k, d, _, _ in rows(schema["properties"]) if not d]
    assert not undocumented, f"schema keys without a description: {undocumented}"
    assert (REPO / "config" / "README.md").read_text() == markdown(schema), \
        "config/README.md is stale: python -m superweight.workflow.schema_doc > config/README.md"


def test_every_result_record_comes_from_one_builder():
    """Scripts write an experiment's {status, reason, provenance} record only through provenance.result_record, and
    name the skip "no super weight used" only as detect.used.NONE_USED: one shape and one wording in every file."""
    hand, worded = [], []
    for f in sorted((REPO / "workflow/scripts").glob("*.py")):
        text = f.read_text()
        if re.search(r"""["']status["']\s*:""", text):
            hand.append(f.name)
        if re.search(r"no (confirmed )?super weights? used", text):
            worded.append(f.name)
    assert not hand, f"records built by hand (use superweight.provenance.result_record): {hand}"
    assert not worded, f"skip wording spelled out (use superweight.detect.used.NONE_USED): {worded}"


def test_every_rule_has_log_and_benchmark():
    rules = dict(_rule_bodies())
    assert len(rules) >= 20
    missing = [name for name, body in rules.items() if name != "all" and "benchmark:" not in body]
    assert not missing, f"rules without benchmark: {missing}"


def test_one_score_rule_its_variants_use_it():
    """The scoring variants are `use rule score as ... with:` (their own input, output, params, log, benchmark and
    resources), not copies of its body; and no rule file defines helper functions (they are in helpers/*.smk)."""
    assert [name for name, body in _rule_bodies() if "scripts/score.py" in body] == ["score"]
    files = {p.name: p.read_text() for p in (REPO / "workflow/rules").glob("*.smk")}
    used = {new for _, new in re.findall(r"^\s*use rule (\w+) as (\w+) with:", "\n".join(files.values()), re.M)}
    assert used == {"score_scaled", "score_wquant", "score_wquant_restored", "score_wquant_sweep", "score_aquant",
                    "protocol_settings"}, used  # and the protocol page's settings part (no model input)
    assert [name for name, text in files.items() if re.search(r"^def ", text, re.M)] == ["common.smk"]


def test_rules_always_defined_and_read_nothing_defined_later():
    """Every rule is defined in every run (no rule, `use rule`, `ruleorder` or `localrules` inside an `if`: a
    switched-off variant's wildcards match nothing, common.smk's only_if), and the files the Snakefile includes read
    no name defined in a file included after them."""
    text = {p: p.read_text() for p in [REPO / "Snakefile", *(REPO / "workflow/rules").rglob("*.smk")]}
    nested = [f"{p.name}: {m.group(0).strip()}" for p, t in text.items()
              for m in re.finditer(r"^[ \t]+(rule \w+:|use rule .*|ruleorder:.*|localrules:)", t, re.M)]
    assert not nested, nested
    order = re.findall(r'^include: "(.+)"', text[REPO / "Snakefile"], re.M)
    files = []
    for inc in order:  # each rules file, then the helpers it includes
        p = REPO / inc
        files += [p] + [p.parent / h for h in re.findall(r'^include: "(.+)"', text[p], re.M)]
    defined = [set(re.findall(r"^(?:def )?([A-Za-z_]\w*)(?: =|\()", text[p], re.M)) for p in files]
    late = []
    for i, p in enumerate(files):
        body = re.sub(r'"""(.*?)"""|#.*', "", text[p], flags=re.S)
        for j in range(i + 1, len(files)):
            late += [f"{p.name} reads {name} ({files[j].name})" for name in defined[j] - set().union(*defined[:j])
                     if re.search(rf"\b{name}\b", body) and not name.startswith("_")]
    assert not late, late


def test_run_plan_lists_each_experiment_once_with_its_reuse_and_grid():
    """The run plan of the CI scenario: every experiment's path once, scaling x1 / x0 and W8A8 fp read from the
    ablation where it allows (else scored), a model's own scaling grid over analysis.scaling.factors, and `all`'s
    targets holding every result the claims read."""
    from helpers import ci_config
    from superweight.workflow import runplan

    cfg = ci_config()
    m = next(iter(cfg["models"]))
    cfg["models"]["m2"] = {**cfg["models"][m], "scaling_factors": [0, 1.3, 1]}
    plan = runplan.build(cfg, [m, "m2"], reuse_from=lambda cond, corpora, ev: None if cond == "original" else "no")
    paths = [e.path for e in plan.experiments]
    assert len(paths) == len(set(paths))
    assert plan.factors("m2") == ["0", "1.3", "1"]
    assert plan.factors(m) == [f"{float(f):g}" for f in cfg["analysis"]["scaling"]["factors"]]
    assert plan.paths("scaling", "m2") == [f"results/m2/scaling/x{f}/scores.json" for f in ("0", "1.3", "1")]
    assert plan.reused("scaling") == {"1": "original"}  # x0's source said no: scored
    assert plan.reused("aquant") == ({"fp": "original"} if "fp" in cfg["quantization"]["activations"]["methods"]
                                     else {})
    assert set(plan.claim_inputs()) <= set(plan.outputs())
    assert runplan.build(cfg, [m]).reused("scaling") == {}  # no reuse_from: everything scored
    # each experiment carries its corpora and its kind's documents per task, resolved once (a sweep's own limit)
    cfg["quantization"]["weights"]["limit"] = {t: 3 for t in cfg["eval"]["tasks"]}
    cfg["analysis"]["scaling"]["limit"] = None
    plan = runplan.build(cfg, [m])
    for e in plan.experiments:
        assert e.corpora == tuple({"ablation": cfg["perplexity"], "scaling": cfg["analysis"]["scaling"],
                                   "wquant": cfg["quantization"]["weights"],
                                   "aquant": cfg["quantization"]["activations"]}[e.kind]["corpora"])
        assert e.eval == plan.eval_settings(e.kind) and e.eval.tasks == tuple(cfg["eval"]["tasks"])
    assert plan.eval_for("wquant")["limit"] == {t: 3 for t in cfg["eval"]["tasks"]}
    # and its job's work, which its resource request is estimated from: the rules ask the plan the same
    for e in plan.experiments:
        assert e.work == plan.work(e.kind, e.spec) and e.work.quantize == (e.kind == "wquant")
        assert e.work.keeps_weights == (e.kind == "aquant")
    aq = {e.spec["method"]: e.work for e in plan.of("aquant")}
    assert aq["smoothquant"].tokens > aq["naive"].tokens  # SmoothQuant calibrates on the corpora first
    assert plan.eval_for("scaling") == plan.eval_for("ablation") == cfg["eval"]  # null: `eval.limit` itself
    table6 = cfg["quantization"]["weights"]["table6"]
    restored = [e for e in plan.of("wquant", m) if e.spec["sw_factor"] is not None]
    assert len(restored) == (len(table6["blocks"]) * sum(float(f) != 1 for f in table6["factors"])
                             if table6["enabled"] else 0)


def test_one_onstart_handler_checks_the_planned_jobs():
    """Snakemake keeps only the last `onstart:`: the workflow has exactly one, the start-up check of the planned jobs
    (a second would silently replace it and with it the run-time limit and CUDA checks)."""
    text = (REPO / "Snakefile").read_text() + "".join(p.read_text() for p in (REPO / "workflow/rules").rglob("*.smk"))
    assert len(re.findall(r"^onstart:", text, re.M)) == 1
    assert "over_limit_message(jobs" in text and "check_device(" in text


def test_claims_rule_waits_for_what_the_claims_declare():
    """The `claims` rule's inputs (the run plan's claim_inputs) come from the claims' own declarations (the
    registry, superweight.report.claims_evaluate.CLAIMS): every file a claim names and every planned result of a
    kind it reads, in the CI scenario, which runs every experiment; a kind no claim reads is not waited for."""
    from helpers import ci_config
    from superweight.report import claims_evaluate
    from superweight.workflow import runplan

    cfg = ci_config()
    m = next(iter(cfg["models"]))
    plan = runplan.build(cfg, [m])
    listed = plan.claim_inputs()
    declared = {f for c in claims_evaluate.CLAIMS for f in c.inputs}
    assert declared <= {p.split("/", 2)[2] for p in listed}
    assert set(plan.paths("scaling", m)) <= set(listed) and set(plan.paths("wquant", m)) <= set(listed)
    restored = next(e.path for e in plan.of("wquant", m) if e.spec["sw_factor"] is not None)
    assert "wquant_amplify" in plan.claims_reading(restored)
    assert plan.claims_reading(runplan.PATTERNS["detect"].format(model=m))  # early_layer and others
    x15 = next(p for p in plan.paths("scaling", m) if "/x1.5/" in p)
    assert plan.claims_reading(x15) == ["scaling_up"]
    # without the one claim that reads the scaling sweep, the claims wait for none of it
    kept = [c for c in claims_evaluate.CLAIMS if c.id != "scaling_up"]
    original = list(claims_evaluate.CLAIMS)
    claims_evaluate.CLAIMS[:] = kept
    try:
        assert not set(plan.paths("scaling", m)) & set(plan.claim_inputs())
    finally:
        claims_evaluate.CLAIMS[:] = original
    assert set(plan.claim_inputs()) <= set(plan.results()) <= set(plan.outputs())


# a result stub every reader takes as done: each top-level field a claim's first read looks for, empty
DONE = '{"status": "done", "scores": {}, "super_weights": [], "used": [], "candidates": []}'


def test_each_claim_reads_only_what_it_declares(tmp_path):
    """Run every claim's test on a model with no result, with every scored result of the CI plan present but
    skipped, and with every result the claims may read present and done (stub contents: a test may then fail on
    a missing field, its reads so far are what counts). Each file it opens or checks is one it declares itself
    (``inputs``, ``uses``; a base model's under ``base/``), or a result of a kind it declares (``reads``); each kind
    it looks up by pattern is one it declares. The run plan's claim_inputs, built from the declarations, so holds
    everything a claim reads."""
    from helpers import ci_config
    from superweight import paths
    from superweight.report.claims_evaluate import CLAIMS
    from superweight.report.registry import Context
    from superweight.workflow import runplan

    class Recording(Context):
        def __init__(self, files):
            super().__init__("m", files, base="b")
            self.seen, self.kinds = set(), set()

        def has(self, rel):
            self.seen.add(rel)
            return super().has(rel)

        def json(self, rel):
            self.seen.add(rel)
            return super().json(rel)

        def rows(self, rel):
            self.seen.add(rel)
            return super().rows(rel)

        def find(self, kind, **given):
            self.kinds.add(kind)
            return super().find(kind, **given)

    cfg = ci_config()
    m = next(iter(cfg["models"]))
    plan = runplan.build(cfg, [m])

    def stubs(where, paths_, text):
        out = {}
        for p in paths_:
            f = tmp_path / where / p
            f.parent.mkdir(parents=True, exist_ok=True)
            f.write_text(text(p))
            out[p.split("/", 2)[2]] = f
        return out

    skipped = stubs("skipped", [e.path for e in plan.experiments], lambda p: '{"status": "skipped", "reason": "t"}')
    done = stubs("done", plan.results(), lambda p: DONE if p.endswith(".json") else "")
    done.update({f"base/{k}": v for k, v in done.items()})
    plan_kind = {**{k: k for k in paths.SCORES}, "wquant_restored": "wquant"}  # restored results: plan kind wquant
    for c in CLAIMS:
        own = set(c.inputs) | set(c.uses)
        for files in ({}, skipped, done):
            ctx = Recording(files)
            try:
                c.fn(ctx, dict(c.thresholds))
            except Exception:  # noqa: BLE001 (stub contents: what it read before failing is what is checked)
                pass
            assert {plan_kind[k] for k in ctx.kinds} <= set(c.reads), (c.id, ctx.kinds, c.reads)
            for rel in ctx.seen:
                rel = rel.removeprefix("base/")
                kinds = {plan_kind[k] for k in paths.SCORES if paths.fields(k, rel) is not None}
                assert rel in own or kinds & set(c.reads), (c.id, rel)


def test_benchmark_summary_covers_model_and_rendering_jobs(tmp_path):
    from superweight.provenance import summarize_benchmarks

    head = "s\th:m:s\tmax_rss\n"
    (tmp_path / "m1" / "benchmarks").mkdir(parents=True)
    (tmp_path / "benchmarks").mkdir()
    (tmp_path / "m1" / "benchmarks" / "detect.tsv").write_text(head + "12.5\t0:00:12\t800.0\n")
    (tmp_path / "benchmarks" / "table5.tsv").write_text(head + "1.5\t0:00:01\t90.0\n")
    n = summarize_benchmarks(tmp_path, tmp_path / "timing.csv")
    lines = (tmp_path / "timing.csv").read_text().splitlines()
    assert n == 2 and lines[0] == "model,job,s,max_rss_mb"
    assert "-,table5,1.5,90.0" in lines and "m1,detect,12.5,800.0" in lines


@pytest.mark.workflow
def test_lint_clean(wf):
    r = snakemake(wf, "--lint")
    out = r.stdout + r.stderr
    assert r.returncode == 0 and "Congratulations, your workflow is in a good condition" in out, out[-3000:]


@pytest.mark.workflow
def test_slurm_profile_gives_jobs_the_threads_asked_for(wf):
    """No workflow profile is loaded automatically beside --profile profiles/slurm, so nothing caps threads."""
    r = snakemake(wf, "results/smollm2-135m/ablation/original/scores.json", "-n", "--profile", "profiles/slurm",
                  "--set-threads", "score=8")
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-3000:]
    assert "workflow specific profile" not in out
    threads = {}
    for block in out.split("\nrule ")[1:]:
        name = block.split(":")[0]
        m = re.search(r"^\s+threads: (\d+)$", block, re.M)
        threads[name] = int(m.group(1)) if m else 1  # snakemake prints threads only when > 1
    assert threads["score"] == 8, threads
    assert threads["detect"] == 2 and threads["tokenize_corpus"] == 1, threads  # as tests/cluster/test_slurm.py


@pytest.mark.workflow
def test_rulegraph_shows_every_rule(wf):
    r = snakemake(wf, "--list-rules")
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
    rules = {line.split()[0] for line in r.stdout.splitlines() if line and not line.startswith(" ")}
    svg = (REPO / "docs" / "rulegraph.svg").read_text()
    drawn = {re.sub(r"<[^>]+>", "", t) for t in re.findall(r"<text[^>]*>[^<]*</text>", svg)}
    # the drawing's config scores weight quantization in one job per model (score_wquant_sweep); its one-job-per-
    # setting variants are defined in every run but plan no job there (docs/rulegraph.yaml)
    rules -= {"score_wquant", "score_wquant_restored"}
    assert drawn == rules, f"docs/rulegraph.svg is stale (rerun docs/rulegraph.sh): missing {sorted(rules - drawn)}, " \
                           f"extra {sorted(drawn - rules)}"


@pytest.mark.workflow
def test_dag_and_validation_need_no_torch(wf):
    """Parsing the Snakefile (config validation, model metadata) imports neither torch nor transformers."""
    code = textwrap.dedent(f"""
        import atexit, os, sys
        def report():
            heavy = [m for m in ("torch", "transformers", "lm_eval") if m in sys.modules]
            os.write(1, ("HEAVY=" + ",".join(heavy) + "\\n").encode())
        atexit.register(report)
        sys.argv = ["snakemake", "-n", "--cores", "1"]
        from snakemake.cli import main
        main()
    """)
    r = subprocess.run([sys.executable, "-c", code], cwd=wf, capture_output=True, text=True, timeout=300,
                       env=workflow_env())
    out = r.stdout + r.stderr
    assert "HEAVY=" in out and r.returncode == 0, out[-3000:]
    assert "HEAVY=\n" in out, out[-2000:]


@pytest.mark.workflow
def test_config_validation_imports_no_torch(data_dir):
    code = textwrap.dedent(f"""
        import sys, yaml
        from superweight.workflow.config import validate
        cfg = yaml.safe_load(open({str(REPO / 'config' / 'config.yaml')!r}))
        cfg["data_dir"] = {str(data_dir)!r}
        cfg["models"]["smollm2-135m"]["super_weights"] = [[3, 1, 2]]  # the shape check reads the GGUF header
        validate(cfg, {str(SCHEMA)!r}, paper_results={str(REPO / 'config' / 'paper_results.yaml')!r})
        print("heavy:", [m for m in ("torch", "transformers", "numpy", "pandas") if m in sys.modules])
    """)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=workflow_env())
    assert r.returncode == 0, r.stderr[-3000:]
    assert "heavy: []" in r.stdout, r.stdout
