"""Conda envs and profiles, checked statically (no conda here): valid YAML, pins agree with requirements.txt,
every rule that runs Python names an env that exists."""
import re
from pathlib import Path

import pytest
import yaml

from helpers import snakemake

REPO = Path(__file__).resolve().parents[1]


def _pins(lines):
    out = {}
    for line in lines:
        line = line.split("#")[0].strip()
        m = re.match(r"^([A-Za-z0-9_.\-]+)(\[[^\]]+\])?==([^\s;]+)$", line)
        if m:
            out[m.group(1).lower().replace("_", "-")] = m.group(3)
    return out


def test_env_pins_agree_with_requirements():
    req = _pins((REPO / "requirements.txt").read_text().splitlines())
    envs = sorted((REPO / "envs").glob("*.yaml"))
    assert {e.name for e in envs} >= {"model.yaml", "plot.yaml"}
    for env in envs:
        spec = yaml.safe_load(env.read_text())
        pip = next(d["pip"] for d in spec["dependencies"] if isinstance(d, dict) and "pip" in d)
        pins = _pins(pip)
        assert pins, env
        for name, version in pins.items():
            assert req.get(name) == version, f"{env.name}: {name}=={version} but requirements.txt has {req.get(name)}"
    model = _pins(next(d["pip"] for d in yaml.safe_load((REPO / "envs/model.yaml").read_text())["dependencies"]
                       if isinstance(d, dict)))
    assert {"torch", "transformers", "lm-eval", "gguf"} <= set(model)
    plot = _pins(next(d["pip"] for d in yaml.safe_load((REPO / "envs/plot.yaml").read_text())["dependencies"]
                      if isinstance(d, dict)))
    assert "torch" not in plot and {"pandas", "matplotlib"} <= set(plot)


def _rules():
    for smk in sorted((REPO / "workflow/rules").glob("*.smk")):
        text = smk.read_text()
        for m in re.finditer(r"^rule (\w+):\n(.*?)(?=^rule |\Z)", text, re.S | re.M):
            yield smk, m.group(1), m.group(2)


def test_every_python_rule_has_an_env_and_a_log():
    seen = 0
    for smk, name, body in _rules():
        if "script:" in body:
            seen += 1
            env = re.search(r'conda:\s*\n\s*"([^"]+)"', body)
            assert env, f"rule {name} runs a script without conda:"
            assert (smk.parent / env.group(1)).resolve().is_file(), f"rule {name}: {env.group(1)} missing"
            assert "log:" in body, f"rule {name} has no log:"
            script = re.search(r'script:\s*\n\s*"([^"]+)"', body).group(1)
            assert (smk.parent / script).is_file(), f"rule {name}: {script} missing"
    assert seen >= 10


@pytest.mark.workflow
@pytest.mark.parametrize("args", [
    ["--profile", "profiles/local"],
    ["--profile", "profiles/slurm"],
    ["--configfile", "config/paper.yaml"],
    ["--configfile", "config/paper.yaml", "--profile", "profiles/slurm"],
])
def test_dry_run_with_each_config_and_profile(wf, args):
    r = snakemake(wf, "-n", *args)
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]


def test_paper_config_carries_table2():
    cfg = yaml.safe_load((REPO / "config/paper.yaml").read_text())
    assert cfg["models"]["llama-7b"]["super_weights"] == [[2, 3968, 7003]]
    assert cfg["models"]["llama-7b"]["id"] == "huggyllama/llama-7b"
    assert len(cfg["models"]) == 10
    assert cfg["eval"]["limit"] is None and cfg["perplexity"]["seqlen"] == 2048
