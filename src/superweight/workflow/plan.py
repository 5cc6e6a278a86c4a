"""The cost of a run before it runs: its jobs with the resources they request, summed per rule, and the jobs over
the cluster's time limit (config `resources.max_runtime`).

Two readers of the same jobs: ``superweight plan`` parses the dry run Snakemake prints (``jobs_from_dry_run``), and
the workflow's ``onstart`` reads the scheduled jobs (``planned_jobs``) so that a job over the limit stops the run
before anything is submitted. No torch.
"""
from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class Job:
    """One planned job and what it asks the scheduler for (minutes, MB, GPUs)."""

    rule: str
    wildcards: dict = field(default_factory=dict)
    runtime_min: int = 0
    mem_mb: int = 0
    gpus: int = 0
    threads: int = 1
    disk_mb: int = 0  # what it writes to the model cache or a prepared directory (resource model_disk_mb)
    forward_tokens: int = 0  # the tokens its rule declares it forwards (the run-time estimate's input)
    log: str = ""
    estimate_s: int | None = None  # the run-time estimate before the margin (model jobs only)

    @property
    def name(self) -> str:
        wc = ", ".join(f"{k}={v}" for k, v in self.wildcards.items())
        return f"{self.rule} ({wc})" if wc else self.rule


def _estimate(res) -> int | None:
    value = res.get("estimate_s")
    return None if value is None else _int(value)


def _int(value) -> int:
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return 0


def planned_jobs(workflow) -> list[Job] | None:
    """The jobs a starting run will execute, with their evaluated resources (read in the workflow's ``onstart``:
    the DAG is built, nothing has run yet); None where this Snakemake does not expose them."""
    jobs = []
    dag = getattr(workflow, "dag", None)  # Snakemake's DAG object (not a documented API: checked, not assumed)
    if dag is None or not hasattr(dag, "needrun_jobs"):
        return None
    for j in dag.needrun_jobs():
        res = j.resources
        jobs.append(Job(j.rule.name, dict(j.wildcards), _int(res.get("runtime")), _int(res.get("mem_mb")),
                        _int(res.get("gpu")), _int(j.threads) or 1, _int(res.get("model_disk_mb")),
                        _int(res.get("forward_tokens")), str(j.log[0]) if j.log else "", _estimate(res)))
    return jobs


_RULE = re.compile(r"^(?:local)?rule (\S+):$")
_FIELD = re.compile(r"^\s+(wildcards|resources|threads|log): (.*)$")


def _pairs(text: str) -> dict:
    out = {}
    for part in text.split(", "):
        key, sep, value = part.partition("=")
        if sep:
            out[key.strip()] = value.strip()
    return out


def jobs_from_dry_run(text: str) -> list[Job]:
    """The jobs of ``snakemake -n``'s output: each ``rule NAME:`` block with its wildcards, threads and
    resources."""
    jobs, cur = [], None
    for line in text.splitlines():
        if m := _RULE.match(line):
            if cur:
                jobs.append(cur)
            cur = {"rule": m.group(1), "wildcards": {}, "resources": {}, "threads": 1, "log": ""}
        elif cur and (m := _FIELD.match(line)):
            key, value = m.groups()
            if key == "threads":
                cur["threads"] = _int(value) or 1
            elif key == "log":
                cur["log"] = value.split(", ")[0].removesuffix(" (check log file(s) for error details)")
            else:
                cur[key] = _pairs(value)
        elif cur and line and not line.startswith((" ", "\t")):
            jobs.append(cur)
            cur = None
    if cur:
        jobs.append(cur)
    return [Job(j["rule"], j["wildcards"], _int(j["resources"].get("runtime")), _int(j["resources"].get("mem_mb")),
                _int(j["resources"].get("gpu")), j["threads"], _int(j["resources"].get("model_disk_mb")),
                _int(j["resources"].get("forward_tokens")), j["log"], _estimate(j["resources"]))
            for j in jobs if j["rule"] != "all"]


def dry_run_total(text: str) -> int | None:
    """The job count of the dry run's "Job stats" table (its ``total`` row, ``all`` included)."""
    m = re.search(r"^total\s+([0-9]+)\s*$", text, re.M)
    return int(m.group(1)) if m else None


def over_limit(jobs: list[Job], max_runtime_min: int) -> list[Job]:
    return sorted((j for j in jobs if j.runtime_min > max_runtime_min), key=lambda j: -j.runtime_min)


def over_limit_message(jobs: list[Job], max_runtime_min: int) -> str | None:
    """One line naming the jobs that ask for more than the limit and the fixes, or None."""
    over = over_limit(jobs, max_runtime_min)
    if not over:
        return None
    named = "; ".join(f"{j.name} {j.runtime_min:,} min" for j in over[:3]) + ("; ..." if len(over) > 3 else "")
    return (f"{len(over)} job(s) would ask for more than resources.max_runtime = {max_runtime_min:,} min, the "
            f"cluster's time limit: {named}. Fix: set resources.gpu_tflops to your GPUs' measured rate, score fewer "
            "documents or windows (eval.limit, perplexity.windows), or, if the partition allows longer jobs, raise "
            "resources.max_runtime (a job's own request: --set-resources RULE:runtime=MIN); `superweight plan` "
            "lists every job")


@dataclass
class RulePlan:
    rule: str
    jobs: int = 0
    gpu_hours: float = 0.0  # requested
    cpu_hours: float = 0.0  # requested core-hours of jobs without a GPU (threads x run time)
    estimated_hours: float = 0.0  # model jobs' estimate before the margin (GPU- or core-hours as they run)
    max_mem_mb: int = 0
    max_runtime_min: int = 0
    disk_mb: int = 0


def summarize(jobs: list[Job], max_runtime_min: int) -> dict:
    """Jobs per rule with the GPU- and CPU-hours they request (and the model jobs' estimate before the margin), the
    disk the models fill, the largest memory and run-time requests; the totals; the jobs over the limit. Jobs that
    are not model jobs (tokenizing, tables, figures: no estimate) are counted apart: their run time is the
    profile's default, and the workflow's local rules among them run on the submit host."""
    rules: dict[str, RulePlan] = {}
    other = {"jobs": 0, "cpu_hours": 0.0}
    for j in jobs:
        if j.estimate_s is None:
            other["jobs"] += 1
            other["cpu_hours"] += j.threads * j.runtime_min / 60
            continue
        r = rules.setdefault(j.rule, RulePlan(j.rule))
        r.jobs += 1
        hours = j.runtime_min / 60
        if j.gpus:
            r.gpu_hours += j.gpus * hours
            r.estimated_hours += j.gpus * j.estimate_s / 3600
        else:
            r.cpu_hours += j.threads * hours
            r.estimated_hours += j.threads * j.estimate_s / 3600
        r.max_mem_mb = max(r.max_mem_mb, j.mem_mb)
        r.max_runtime_min = max(r.max_runtime_min, j.runtime_min)
        r.disk_mb += j.disk_mb
    per_rule = sorted(rules.values(), key=lambda r: (-r.gpu_hours, -r.cpu_hours, r.rule))
    model_jobs = [j for j in jobs if j.estimate_s is not None]
    biggest = max(model_jobs, key=lambda j: j.mem_mb, default=None)
    longest = max(jobs, key=lambda j: j.runtime_min, default=None)
    gpu_rules = [r for r in per_rule if r.gpu_hours]
    return {
        "jobs": len(jobs),
        "model_jobs": len(model_jobs),
        "gpu_hours": sum(r.gpu_hours for r in per_rule),
        "gpu_hours_estimated": sum(r.estimated_hours for r in gpu_rules),
        "cpu_hours": sum(r.cpu_hours for r in per_rule),
        "cpu_hours_estimated": sum(r.estimated_hours for r in per_rule if r not in gpu_rules),
        "other_jobs": other["jobs"],
        "other_cpu_hours": other["cpu_hours"],
        "disk_gb": sum(r.disk_mb for r in per_rule) / 1e3,
        "largest_mem": None if biggest is None else {"job": biggest.name, "mem_mb": biggest.mem_mb},
        "longest": None if longest is None else {"job": longest.name, "runtime_min": longest.runtime_min},
        "max_runtime_min": max_runtime_min,
        "over_limit": [{"job": j.name, "runtime_min": j.runtime_min} for j in over_limit(jobs, max_runtime_min)],
        "rules": [asdict(r) for r in per_rule],
    }


def markdown(plan: dict, title: str = "Run plan") -> str:
    """The plan as a page: totals first, then one row per rule of model jobs."""
    lines = [f"# {title}", "",
             f"- **{plan['jobs']} jobs**, {plan['model_jobs']} of them model jobs requesting "
             f"**{plan['gpu_hours']:,.1f} GPU-hours** (estimated {plan['gpu_hours_estimated']:,.1f}) and "
             f"**{plan['cpu_hours']:,.1f} CPU core-hours** (estimated {plan['cpu_hours_estimated']:,.1f}); requests "
             "are the estimate times `resources.margin`, at least 10 minutes, more on a retry",
             f"- {plan['other_jobs']} other jobs (tokenizing, tables, figures; the local rules among them run on the "
             f"submit host) requesting {plan['other_cpu_hours']:,.1f} CPU core-hours at the profile's default",
             f"- disk filled by prepared models and the Hugging Face cache: **{plan['disk_gb']:,.1f} GB**"]
    if plan["largest_mem"]:
        lines.append(f"- largest memory request: {plan['largest_mem']['mem_mb'] / 1e3:,.1f} GB "
                     f"({plan['largest_mem']['job']})")
    if plan["longest"]:
        lines.append(f"- longest run-time request: {plan['longest']['runtime_min']:,} min "
                     f"({plan['longest']['job']})")
    over = plan["over_limit"]
    lines.append(f"- jobs over `resources.max_runtime` ({plan['max_runtime_min']:,} min): "
                 + (", ".join(f"{o['job']} {o['runtime_min']:,} min" for o in over) if over else "none"))
    lines += ["", "| rule | jobs | GPU-hours | CPU core-hours | estimated hours | largest mem (GB) | longest (min) | "
              "disk (GB) |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in plan["rules"]:
        lines.append(f"| {r['rule']} | {r['jobs']} | {r['gpu_hours']:,.1f} | {r['cpu_hours']:,.1f} | "
                     f"{r['estimated_hours']:,.1f} | {r['max_mem_mb'] / 1e3:,.1f} | {r['max_runtime_min']:,} | "
                     f"{r['disk_mb'] / 1e3:,.1f} |")
    return "\n".join(lines) + "\n"


def to_json(plan: dict) -> str:
    return json.dumps(plan, indent=2)
