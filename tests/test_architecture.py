"""The library's shape, checked: stages import only themselves and the stages below them, no import cycle, short
modules, a workflow package that imports no torch, and no mechanism a reader must reverse-engineer: no run-time
swapping of a module's ``forward`` or of a model's decoder-layer list, no call of a model from its own hook, no
command-line parser built by the workflow beside the one documented place, no import after the definitions, no
exception used as control flow (swallowed in its module, or raised and caught in one function), no result path
spelled beside superweight.paths."""
from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SRC = REPO / "src" / "superweight"
# lowest first: a module may import its own stage and the stages before it
ORDER = ("paths", "settings", "provenance", "stats", "models", "interventions", "scoring", "detect", "quant", "analysis", "report", "workflow", "cli")
# modules above ~300 lines, each with its reason
LONG = {
    "report.claims": "the registry of every paper claim",
    "report.protocol": "the comparison of a run's config with the protocol and the page",
    "report.protocol_rows": "the classified rows of every config key (data)",
    "stats.intervals": "one function per interval method, each with its closed form",
    "report.html": "the report's HTML pages",
    "workflow.config": "one check per config section, before any heavy work",
    "report.tables": "one renderer per paper table",
    "settings": "one dataclass per config section, key for key and default for default the schema's (data)",
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


def _code():
    """The library's modules and the workflow's scripts: (name, tree)."""
    yield from ((mod, tree) for mod, _, tree in _modules())
    for p in sorted((REPO / "workflow" / "scripts").glob("*.py")):
        yield f"workflow/scripts/{p.name}", ast.parse(p.read_text())


def _assigned_attrs(tree):
    """(node, attribute name, the object's expression) of every attribute assignment and setattr call."""
    for n in ast.walk(tree):
        if isinstance(n, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
            for t in (n.targets if isinstance(n, ast.Assign) else [n.target]):
                if isinstance(t, ast.Attribute):
                    yield n, t.attr, t.value
        elif isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "setattr" and len(n.args) == 3:
            name = n.args[1].value if isinstance(n.args[1], ast.Constant) else None
            yield n, name, n.args[0]


def _functions(tree):
    return [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]


def _own_nodes(fn):
    """The nodes of a function's body, not those of functions or lambdas defined inside it."""
    stack = list(fn.body) if isinstance(fn.body, list) else [fn.body]
    while stack:
        n = stack.pop()
        yield n
        if not isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            stack.extend(ast.iter_child_nodes(n))


def test_no_forward_assignment():
    found = [f"{mod}:{n.lineno}" for mod, tree in _code() for n, attr, _ in _assigned_attrs(tree) if attr == "forward"]
    assert not found, f"a module's forward replaced at run time: {found}"


def test_no_decoder_layer_list_swapped():
    """A model's list of decoder layers is never replaced, not by its name (``.layers =``, ``setattr(m, "h", ...)``),
    not by a name computed from the adapter's ``layers_path``, not through a module's ``_modules`` table; only a
    copy the function made itself may be changed (``adapters.run_layers``' shallow copy of the decoder): a pass
    through fewer layers is an explicit function, the model is never rebuilt around it."""
    from superweight.models.adapters import ADAPTERS

    names = {a.layers_path.rpartition(".")[2] for a in ADAPTERS}
    found = []
    for mod, tree in _code():
        for fn in _functions(tree):
            own = list(_own_nodes(fn))
            computed = any(isinstance(n, ast.Attribute) and n.attr == "layers_path" for n in own)
            copies = {t.id for n in own if isinstance(n, ast.Assign) and isinstance(n.value, ast.Call)
                      and ast.unparse(n.value.func) == "copy.copy" for t in n.targets if isinstance(t, ast.Name)}
            for n, attr, obj in _assigned_attrs(fn):
                if n not in own or (isinstance(obj, ast.Name) and obj.id in copies):  # the function's own copy
                    continue
                if attr in names and not (fn.name == "__init__" and ast.unparse(obj) == "self"):
                    found.append(f"{mod}:{n.lineno} .{attr}")
                elif attr is None and computed:
                    found.append(f"{mod}:{n.lineno} setattr with a name from layers_path")
                elif attr == "_modules":
                    found.append(f"{mod}:{n.lineno} ._modules")
    assert not found, f"a decoder-layer list swapped at run time: {found}"


def _hooks(tree):
    """(hook, the names its first parameter binds: the hooked module) for each function or lambda a module passes to
    ``register_forward*_hook``, and the module's functions by name."""
    defs = {f.name: f for f in _functions(tree)}
    hooks = []
    for n in ast.walk(tree):
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.args \
                and n.func.attr.startswith("register_forward"):
            h = n.args[0]
            name = h.attr if isinstance(h, ast.Attribute) else h.id if isinstance(h, ast.Name) else None
            if isinstance(h, ast.Lambda):
                hooks.append((h, {a.arg for a in h.args.args[:1]}))
            elif name in defs:
                params = [a.arg for a in defs[name].args.args if a.arg != "self"]
                hooks.append((defs[name], set(params[:1])))
    return hooks, defs


def test_no_model_called_from_its_own_hook():
    """A forward hook never runs the model (or the module it hooks) again, itself or through the methods and
    functions of its module it calls: a second pass is an explicit function (``adapters.run_layers``)."""
    found = []
    for mod, tree in _code():
        hooks, defs = _hooks(tree)
        for hook, own_module in hooks:
            seen, todo = set(), [hook]
            while todo:
                f = todo.pop()
                if id(f) in seen:
                    continue
                seen.add(id(f))
                for n in (_own_nodes(f) if not isinstance(f, ast.Lambda) else ast.walk(f.body)):
                    if not isinstance(n, ast.Call):
                        continue
                    callee = ast.unparse(n.func)
                    if callee in {"model", "self.model", *own_module}:
                        found.append(f"{mod}:{n.lineno} {callee}(...) from hook {getattr(hook, 'name', 'lambda')}")
                    name = callee.removeprefix("self.")
                    if name in defs and "." not in name:
                        todo.append(defs[name])
    assert not found, f"a model called from its own hook: {found}"


def test_no_hook_cuts_its_module_input():
    """No pre-hook hands its module zero positions (``x[..., :0, :]``) to skip it: running a model without its LM
    head is ``adapters.decoder(model)``."""
    found = [f"{mod}:{n.lineno}" for mod, tree in _code() for hook, _ in _hooks(tree)[0] for n in ast.walk(hook)
             if isinstance(n, ast.Slice) and n.lower is None
             and isinstance(n.upper, ast.Constant) and n.upper.value == 0]
    assert not found, f"a hook cutting its module's input to nothing: {found}"


# the one place the workflow builds Snakemake's argument parser, and why
PARSER_ALLOWED = {"command_line_targets": "the targets, which Snakemake's API gives only after the Snakefile is parsed"}


def test_no_argument_parser_in_the_workflow():
    """The workflow reads what it needs from Snakemake's API (``workflow.config_settings``, ``output_settings``,
    ``local_exec``, ``touch``, its ``onstart`` handler) or its own config: no argparse, no Snakemake parser beyond
    PARSER_ALLOWED, no parser's ``error`` replaced, no ``SystemExit`` (a parser's exit) swallowed."""
    found = []
    for p in [*sorted((SRC / "workflow").rglob("*.py")), *sorted((REPO / "workflow").rglob("*.py"))]:
        tree = ast.parse(p.read_text())
        for n in ast.walk(tree):
            if isinstance(n, (ast.Import, ast.ImportFrom)) and "argparse" in ast.unparse(n):
                found.append(f"{p.name}:{n.lineno} argparse")
            if isinstance(n, ast.ExceptHandler) and (n.type is None or any(
                    ast.unparse(t) in ("BaseException", "SystemExit")
                    for t in (n.type.elts if isinstance(n.type, ast.Tuple) else [n.type]))) \
                    and not any(isinstance(s, ast.Raise) for s in ast.walk(n)):
                found.append(f"{p.name}:{n.lineno} a parser's exit swallowed")
        for fn in _functions(tree):
            if "get_argument_parser" in ast.unparse(fn) and fn.name not in PARSER_ALLOWED:
                found.append(f"{p.name}:{fn.lineno} {fn.name} builds Snakemake's parser")
        found += [f"{p.name}:{n.lineno} .error replaced" for n, attr, _ in _assigned_attrs(tree) if attr == "error"]
    for p in [REPO / "Snakefile", *sorted((REPO / "workflow" / "rules").rglob("*.smk"))]:
        for word in ("argparse", "get_argument_parser", "parse_args(", "config_settings.config_args"):
            if word in p.read_text() and not (word == "config_settings.config_args" and p.name == "common.smk"):
                found.append(f"{p.name}: {word}")
    assert not found, f"the workflow reads its command line by hand: {found}"


def test_no_import_after_the_definitions():
    """A module's imports come before its definitions: an import at its bottom (to register something, to break a
    cycle) is a dependency a reader does not see."""
    found = []
    for mod, tree in _code():
        defined = False
        for n in tree.body:
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                defined = True
            elif defined and isinstance(n, (ast.Import, ast.ImportFrom)):
                found.append(f"{mod}:{n.lineno}")
    assert not found, f"imports after the module's definitions: {found}"


def test_no_raise_caught_in_the_same_function():
    """No exception raised and caught in one function (or one script): a condition is an ``if``, not a jump."""
    found = []
    for mod, tree in _code():
        bodies = [*_functions(tree), tree]
        for fn in bodies:
            own = set(_own_nodes(fn))
            for t in (n for n in own if isinstance(n, ast.Try)):
                caught = {ast.unparse(x) for h in t.handlers if h.type is not None
                          for x in (h.type.elts if isinstance(h.type, ast.Tuple) else [h.type])}
                for stmt in t.body:
                    for r in ast.walk(stmt):
                        if isinstance(r, ast.Raise) and r.exc is not None and r in own:
                            exc = ast.unparse(r.exc.func if isinstance(r.exc, ast.Call) else r.exc)
                            if exc in caught or caught & {"Exception", "BaseException"}:
                                found.append(f"{mod}:{r.lineno} {exc}")
    assert not found, f"exceptions raised and caught in the same function: {found}"


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
    # and every module it names under a stage exists (a module removed leaves no stale entry)
    real = {m.split(".")[-1] for m, _, _ in _modules()} | {m.split(".")[0] for m, _, _ in _modules()}
    stages = {s for s in ORDER if (SRC / s).is_dir()}
    for bullet in re.split(r"\n- ", doc)[1:]:
        head = re.match(r"``(\w+)``:", bullet)
        if head and head.group(1) in stages:
            named = set(re.findall(r"``([a-z_0-9]+)``\s*\(", bullet)) | set(re.findall(r"``([a-z_0-9]+)``[,;]", bullet))
            stale = sorted(n for n in named if n not in real and n not in _NOT_MODULES)
            assert not stale, f"the package docstring names modules that do not exist in {head.group(1)}: {stale}"


# words in double backquotes inside a stage's bullet that are functions or values, not modules
_NOT_MODULES = {"run_layers", "decoder"}


def test_each_subpackage_docstring_names_its_modules():
    """Each stage package's own docstring names every module in it (as the top-level map does)."""
    for init in sorted(SRC.glob("*/__init__.py")):
        doc = ast.get_docstring(ast.parse(init.read_text())) or ""
        mods = [p.stem for p in init.parent.glob("*.py") if p.stem != "__init__"]
        missing = [m for m in mods if not re.search(rf"\b{m}\b", doc)]
        assert not missing, f"{init.parent.name}/__init__.py's docstring does not name: {missing}"


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


def _docstrings(tree) -> set[int]:
    """The ids of the docstring nodes of a module, its classes and functions."""
    return {id(n.body[0].value) for n in ast.walk(tree)
            if isinstance(n, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and n.body
            and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)}


def test_result_paths_are_spelled_only_in_paths():
    """Each scored result's path is built and read back by superweight.paths (issue 34: one pattern per kind): no
    other module or workflow script spells ``scores.json`` in its code (docstrings and comments may name it)."""
    found = []
    for mod, tree in _code():
        docs = _docstrings(tree)
        found += [f"{mod}:{n.lineno}" for n in ast.walk(tree) if mod != "paths" and isinstance(n, ast.Constant)
                  and isinstance(n.value, str) and "scores.json" in n.value and id(n) not in docs]
    assert not found, f"result paths spelled beside superweight.paths (use paths.scores, glob, fields, find): {found}"
