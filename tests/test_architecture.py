"""The library's shape, checked: stages import only themselves and the stages below them, no import cycle, no
run-time swapping of a module's ``forward``, no exception used as control flow, short modules, a workflow package
that imports no torch."""
from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "superweight"
# lowest first: a module may import its own stage and the stages before it
ORDER = ("provenance", "stats", "models", "interventions", "scoring", "detect", "quant", "analysis", "report", "workflow", "cli")
# modules above ~300 lines, each with its reason
LONG = {
    "report.claims": "the registry of every paper claim",
    "report.protocol": "the comparison of a run's config with the protocol and the page",
    "report.protocol_rows": "the classified rows of every config key (data)",
    "stats.intervals": "one function per interval method, each with its closed form",
    "report.html": "the report's HTML pages",
    "workflow.config": "one check per config section, before any heavy work",
    "report.tables": "one renderer per paper table",
    "workflow.resources": "the memory model (one function per part of a job) and the run-time model with its rates",
}


def _modules():
    for p in sorted(SRC.rglob("*.py")):
        if "tasks" in p.relative_to(SRC).parts:  # lm-eval task helpers copied next to task files, not library code
            continue
        parts = p.relative_to(SRC).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        yield name or "__init__", p, ast.parse(p.read_text())


def _imports(tree) -> set[str]:
    """superweight modules a module imports (anywhere in it, deferred imports included)."""
    out = set()
    for n in ast.walk(tree):
        if isinstance(n, ast.ImportFrom) and n.module and n.module.startswith("superweight"):
            base = n.module.removeprefix("superweight").lstrip(".")
            for a in n.names:  # `from superweight.stats import intervals` imports the module stats.intervals
                sub = f"{base}.{a.name}" if base else a.name
                out.add(sub if (SRC / Path(*sub.split("."))).with_suffix(".py").exists() else base)
        elif isinstance(n, ast.Import):
            out |= {a.name.removeprefix("superweight.") for a in n.names if a.name.startswith("superweight.")}
    return {m for m in out if m}


def _stage(mod: str) -> str:
    return mod.split(".")[0]


def test_stages_import_only_downward():
    bad = []
    for mod, _, tree in _modules():
        if mod == "__init__":
            continue
        for dep in _imports(tree):
            if ORDER.index(_stage(dep)) > ORDER.index(_stage(mod)):
                bad.append(f"{mod} imports {dep}")
    assert not bad, "upward imports (stage order " + " < ".join(ORDER) + "): " + "; ".join(bad)


def test_no_import_cycle():
    graph = {mod: _imports(tree) for mod, _, tree in _modules()}
    state: dict[str, int] = defaultdict(int)  # 0 new, 1 on the stack, 2 done
    cycles = []

    def visit(m, path):
        state[m] = 1
        for d in sorted(graph.get(m, ())):
            if state[d] == 1:
                cycles.append(" -> ".join(path[path.index(d):] + [d]) if d in path else f"{m} -> {d}")
            elif state[d] == 0:
                visit(d, path + [d])
        state[m] = 2

    for m in graph:
        if state[m] == 0:
            visit(m, [m])
    assert not cycles, cycles


def test_no_forward_assignment():
    found = [f"{mod}:{n.lineno}" for mod, _, tree in _modules() for n in ast.walk(tree)
             if isinstance(n, (ast.Assign, ast.AugAssign, ast.AnnAssign))
             for t in (n.targets if isinstance(n, ast.Assign) else [n.target])
             if isinstance(t, ast.Attribute) and t.attr == "forward"]
    assert not found, f"a module's forward replaced at run time: {found}"


def test_no_exception_as_control_flow():
    """An exception a module defines, raises and then swallows itself (caught without reading it, nothing
    re-raised) is a jump out of the code, not an error: e.g. raised from a hook to stop a forward pass."""
    found = []
    for mod, _, tree in _modules():
        own = {n.name for n in ast.walk(tree) if isinstance(n, ast.ClassDef)
               and any(isinstance(b, ast.Name) and (b.id.endswith(("Exception", "Error")) or b.id == "BaseException")
                       for b in n.bases)}
        raised = {getattr(n.exc.func if isinstance(n.exc, ast.Call) else n.exc, "id", None)
                  for n in ast.walk(tree) if isinstance(n, ast.Raise) and n.exc is not None}
        for n in ast.walk(tree):
            if isinstance(n, ast.ExceptHandler) and n.type is not None and n.name is None \
                    and not any(isinstance(s, ast.Raise) for s in ast.walk(n)):
                types = n.type.elts if isinstance(n.type, ast.Tuple) else [n.type]
                found += [f"{mod}.{t.id}:{n.lineno}" for t in types
                          if isinstance(t, ast.Name) and t.id in own & raised]
    assert not found, f"exceptions raised and swallowed in their own module: {found}"


def test_modules_are_short_or_say_why():
    long = {mod: len(p.read_text().splitlines()) for mod, p, _ in _modules()}
    over = {m: n for m, n in long.items() if n > 330 and m not in LONG}
    assert not over, f"modules over ~300 lines without a reason in LONG: {over}"
    stale = [m for m in LONG if long.get(m, 0) <= 330]
    assert not stale, f"LONG lists modules that are short now (or gone): {stale}"


def test_package_docstring_maps_every_module():
    doc = ast.get_docstring(ast.parse((SRC / "__init__.py").read_text()))
    missing = [m for m, _, _ in _modules() if m != "__init__" and f"``{m.split('.')[-1]}``" not in doc]
    assert not missing, f"the package docstring does not name: {missing}"


def _import_time_imports(tree) -> set[str]:
    """Modules (dotted, absolute) a module imports when it is imported: every import outside a function body and
    an ``if TYPE_CHECKING:`` block."""
    out, todo = set(), list(tree.body)
    while todo:
        n = todo.pop()
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            continue
        if isinstance(n, ast.If) and "TYPE_CHECKING" in ast.unparse(n.test):  # for annotations only, never run
            todo.extend(n.orelse)
            continue
        if isinstance(n, ast.Import):
            out |= {a.name for a in n.names}
        elif isinstance(n, ast.ImportFrom) and n.module and not n.level:
            out.add(n.module)
            out |= {f"{n.module}.{a.name}" for a in n.names if _source(f"{n.module}.{a.name}")}  # a submodule
        todo.extend(ast.iter_child_nodes(n))
    return out


def _source(mod: str) -> Path | None:
    """The file of a superweight module or package, None for anything else."""
    if mod != "superweight" and not mod.startswith("superweight."):
        return None
    base = SRC.parent / Path(*mod.split("."))
    return next((p for p in (base.with_suffix(".py"), base / "__init__.py") if p.exists()), None)


def test_workflow_package_imports_no_torch():
    """superweight.workflow is the plumbing Snakemake imports on the submit host (config, plan, resources): importing
    any of its modules, and what they import in turn, loads no torch, transformers or lm-eval (a module that changes
    or scores a model belongs to a stage package: e.g. analysis.experiments). Imports inside a function run only when
    it is called: not counted."""
    heavy = ("torch", "transformers", "lm_eval")
    bad = []
    for start in sorted((SRC / "workflow").glob("*.py")):
        mod = f"superweight.workflow.{start.stem}"
        seen, todo = set(), [(mod, [mod])]
        while todo:
            m, path = todo.pop()
            parts = m.split(".")
            for i in range(1, len(parts) + 1):  # importing a.b.c runs a/__init__ and a/b/__init__ first
                name = ".".join(parts[:i])
                if name in seen:
                    continue
                seen.add(name)
                if name.split(".")[0] in heavy:
                    bad.append(" -> ".join(path + [name]) if name != m else " -> ".join(path))
                src = _source(name)
                if src is not None:
                    todo += [(d, path + [d]) for d in _import_time_imports(ast.parse(src.read_text()))]
    assert not bad, f"superweight.workflow imports torch when imported: {sorted(set(bad))}"
