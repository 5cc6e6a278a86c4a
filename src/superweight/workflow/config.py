"""Workflow config validation: the JSON schema plus checks that need the file system, done before
any heavy work, each failure one message naming the key and the fix. Imports no torch: it runs when Snakemake
parses the workflow on the submit host."""
from __future__ import annotations

import difflib
import re
from pathlib import Path

import yaml

from superweight.models.adapters import UnsupportedModelError, get_adapter
from superweight.scoring.data import FILES, DataError, resolve_data_dir
from superweight.scoring.limits import limits_by_key
from superweight.models.sources import ModelSourceError, ModelSpec, model_shape, shape_from_config_json


class ConfigError(ValueError):
    """A bad config value; the message names the key and the fix."""


def _where(path) -> str:
    return ".".join(str(p) for p in path) or "(top level)"


def did_you_mean(word, choices) -> str:
    """' (did you mean 'x'?)' for the closest of ``choices``, or ''."""
    close = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


# Keys a config may still set from an earlier version: (path of the key) -> what replaced it
REMOVED = {("stats", k): "every interval is a closed form now, nothing is resampled" for k in ("bootstrap", "seed")}


def _explain(err) -> str:
    import jsonschema

    err = jsonschema.exceptions.best_match([err]) if not isinstance(err, jsonschema.ValidationError) else err
    where = _where(err.absolute_path)
    if err.validator == "additionalProperties":
        allowed = sorted(err.schema.get("properties", {}))
        extra = sorted(set(err.instance) - set(allowed))
        gone = [k for k in extra if (*err.absolute_path, k) in REMOVED]
        if gone:
            keys = ", ".join(f"`{where}.{k}`" for k in gone)
            return (f"{keys} {'were' if len(gone) > 1 else 'was'} removed ({REMOVED[(*err.absolute_path, gone[0])]}). "
                    f"Fix: delete {'them' if len(gone) > 1 else 'it'} from your config")
        return (f"unknown key {', '.join(map(repr, extra))} in `{where}`{did_you_mean(extra[0], allowed)}. Fix: check "
                f"the spelling; allowed keys: {', '.join(allowed)}")
    if err.validator == "enum":
        return f"`{where}` is {err.instance!r}; it must be one of {', '.join(map(repr, err.validator_value))}"
    if err.validator == "type":
        return f"`{where}` is {err.instance!r}; it must be of type {err.validator_value}"
    if err.validator in ("oneOf", "anyOf"):
        forms = "; ".join(_form(sub) for sub in err.validator_value)
        return f"`{where}` is {err.instance!r}; it must be one of these forms: {forms}"
    if err.validator == "pattern":
        hint = err.schema.get("description")
        return (f"`{where}` is {err.instance!r}; it must match {err.validator_value}"
                + (f" ({hint})" if hint else ""))
    bounds = {"minimum": ">=", "exclusiveMinimum": ">", "maximum": "<=", "exclusiveMaximum": "<"}
    if err.validator in bounds:
        return f"`{where}` is {err.instance!r}; it must be {bounds[err.validator]} {err.validator_value}"
    if err.validator in ("minItems", "maxItems", "minProperties"):
        most = "at most" if err.validator == "maxItems" else "at least"
        return f"`{where}` has {len(err.instance)} entries; it needs {most} {err.validator_value}"
    if err.validator == "minLength":
        return f"`{where}` is {err.instance!r}; it must be a non-empty string"
    if err.validator == "required":
        return f"`{where}`: {err.message}. Fix: add that key (see config/config.yaml for an example)"
    return f"`{where}`: {err.message}"


def _form(sub: dict) -> str:
    """One accepted form of a oneOf/anyOf, in words: 'null', 'an integer >= 1', '"auto"', 'a mapping ...'."""
    if "const" in sub:
        return repr(sub["const"])
    if "enum" in sub:
        return "one of " + ", ".join(map(repr, sub["enum"]))
    kind = sub.get("type")
    kinds = kind if isinstance(kind, list) else [kind]
    words = {"null": "null", "integer": "an integer", "number": "a number", "string": "a string", "boolean": "true/false",
             "array": "a list", "object": "a mapping"}
    text = " or ".join(words.get(k, str(k)) for k in kinds)
    bounds = [f"{op} {sub[key]}" for key, op in (("minimum", ">="), ("exclusiveMinimum", ">"), ("maximum", "<="),
                                                  ("exclusiveMaximum", "<")) if key in sub]
    if bounds:
        text += " " + " and ".join(bounds)
    if kind == "object" and isinstance(sub.get("additionalProperties"), dict):
        text += " of name -> " + _form(sub["additionalProperties"])
    return text


def validate(config: dict, schema_path: str | Path, check_files: bool = True,
             paper_results: str | Path | None = None, cache: str | Path | None = None,
             prepared: str = "results/{model}/model") -> dict:
    """Validate (filling schema defaults) and return the config; raise ConfigError on the first problem.
    ``paper_results``: config/paper_results.yaml, against which each model's ``paper`` key is checked. ``cache``: a
    writable JSON file caching the data files' checksums (superweight.workflow.verify). ``prepared``: where prepare_model
    writes a model (its config.json gives a Hub model's positions once prepared)."""
    import jsonschema

    schema = yaml.safe_load(Path(schema_path).read_text())
    validator_cls = jsonschema.validators.validator_for(schema)
    # fill defaults while validating, as snakemake.utils.validate(set_default=True) does
    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for prop, sub in properties.items():
                if "default" in sub:
                    instance.setdefault(prop, sub["default"])
        yield from validator_cls.VALIDATORS["properties"](validator, properties, instance, schema)

    Filling = jsonschema.validators.extend(validator_cls, {"properties": set_defaults})
    errors = sorted(Filling(schema).iter_errors(config), key=lambda e: (len(e.absolute_path), str(e.absolute_path)))
    if errors:
        raise ConfigError(_explain(jsonschema.exceptions.best_match(errors)))
    run_models(config)
    check_hub_ids(config)
    check_maps(config, schema)
    check_choices(config)
    if check_files:
        check_config_files(config, cache, prepared)
    if paper_results is not None:
        check_paper_keys(config, paper_results)
    return config


def check_repeated_keys(paths) -> None:
    """No config file sets a key twice in one mapping: YAML keeps the last silently, so a second `ablation:` block
    drops the first one's keys without a word."""
    class Strict(yaml.SafeLoader):
        pass

    def mapping(loader, node, deep=False):
        seen = {}
        for key_node, _ in node.value:
            key = loader.construct_object(key_node, deep=deep)
            line = key_node.start_mark.line + 1
            if key in seen:
                raise ConfigError(f"config file {path} sets `{key}` twice in one block (lines {seen[key]} and {line}); "
                                  "only the second would be read, the first dropped without a word. Fix: merge the "
                                  "two into one")
            seen[key] = line
        return loader.construct_mapping(node, deep=deep)

    Strict.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, mapping)
    for path in paths or []:
        try:
            text = Path(path).read_text()
        except OSError:
            continue  # Snakemake reports a config file it cannot read
        try:
            yaml.load(text, Loader=Strict)  # noqa: S506 -- SafeLoader with one constructor more
        except yaml.YAMLError:
            continue  # Snakemake reports YAML it cannot parse, with the line


def run_models(config: dict) -> list[str]:
    """The models this run runs: ``run_models`` when set (each must be under ``models``), else all of them."""
    from superweight.report.protocol import run_models as selected

    unknown = [m for m in config.get("run_models") or [] if m not in config["models"]]
    if unknown:
        raise ConfigError(f"`run_models` names {', '.join(map(repr, unknown))}, not under `models` (has: "
                          f"{', '.join(config['models'])}). Fix: list only configured model names, or set it to null")
    return selected(config)


def check_paper_keys(config: dict, paper_results: str | Path) -> None:
    """Each model's ``paper`` key names an entry of config/paper_results.yaml."""
    known = yaml.safe_load(Path(paper_results).read_text()) or {}
    for name, m in config["models"].items():
        key = m.get("paper")
        if key and key not in known:
            raise ConfigError(f"`models.{name}.paper` is {key!r}, not a key of {Path(paper_results).name}. Fix: use one "
                              f"of {', '.join(known)}, or remove the key")


def needed_datasets(config: dict) -> list[str]:
    """Every dataset the run reads: perplexity corpora of each experiment, the zero-shot tasks (the ablation and
    the sweeps score them), LAMBADA (stopwords, skip), calibration text."""
    q = config.get("quantization", {})
    wq, aq = q.get("weights", {}), q.get("activations", {})
    an, mech = config.get("analysis", {}), config.get("mechanism", {})
    need = set(config["perplexity"]["corpora"]) | {config["detection"]["confirm"]["corpus"]}
    need |= set(an.get("scaling", {}).get("corpora", [])) | set(wq.get("corpora", [])) | set(aq.get("corpora", []))
    need |= set(config["eval"]["tasks"]) | {"lambada_openai"}
    if wq.get("z") == "auto":
        need.add(wq["calibration"]["corpus"])
    if "smoothquant" in aq.get("methods", []):
        need.add(aq["calibration"]["corpus"])
    if set(mech.get("experiments", [])) & {"skip", "significance"}:
        need.add(mech["corpus"])
    if config.get("emergence"):
        need.add(config["emergence"].get("corpus", "wikitext2"))
    return sorted(need)


def evaluated_corpora(config: dict) -> dict[str, str]:
    """Corpus -> the first key that scores it for a verdict or table: perplexity (Table 1 and the sweeps), the
    mechanism experiments, emergence. Text a run chooses something from (confirmation, calibration) must be none of
    these."""
    q, an, mech = config.get("quantization", {}), config.get("analysis", {}), config.get("mechanism", {})
    out: dict[str, str] = {}
    for key, corpora in (("perplexity.corpora", config["perplexity"]["corpora"]),
                         ("analysis.scaling.corpora", an.get("scaling", {}).get("corpora", [])),
                         ("quantization.weights.corpora", q.get("weights", {}).get("corpora", [])),
                         ("quantization.activations.corpora", q.get("activations", {}).get("corpora", [])),
                         ("mechanism.corpus", [mech["corpus"]] if set(mech.get("experiments", []))
                          & {"skip", "significance"} else []),
                         ("emergence.corpus", [config["emergence"].get("corpus", "wikitext2")]
                          if config.get("emergence") else [])):
        for c in corpora:
            out.setdefault(c, key)
    return out


HUB_ID = re.compile(r"^(?:[\w.-]+/)?[\w.-]+$")


def hub_id_problem(repo_id: str) -> str | None:
    """Why ``repo_id`` is not a Hugging Face Hub id (huggingface_hub's own rules: owner/name or name, letters, digits,
    '-', '_', '.', at most 96 characters, no '--' or '..', no leading or trailing '-' or '.'), or None."""
    if not HUB_ID.match(repo_id):
        return "at most one '/', and only letters, digits, '-', '_', '.' (no spaces)"
    if len(repo_id) > 96:
        return "at most 96 characters"
    if "--" in repo_id or ".." in repo_id:
        return "no '--' or '..'"
    if any(part[:1] in "-." or part[-1:] in "-." for part in repo_id.split("/")):
        return "no '-' or '.' at the start or end of the owner or the name"
    return None


def check_hub_ids(config: dict) -> None:
    """A Hub model's `id` is a Hub id: else the run fails only when prepare_model downloads it, after the DAG."""
    ids = [(f"models.{n}.id", config["models"][n]) for n in run_models(config)]
    em = config.get("emergence") or {}
    if em and "{revision}" not in str(em.get("id", "")):
        ids.append(("emergence.id", em))
    for key, m in ids:
        if m.get("source") != "hub":
            continue
        why = hub_id_problem(str(m["id"]))
        if why:
            raise ConfigError(f"`{key}` is {m['id']!r}, not a Hugging Face Hub id (owner/name: {why}). Fix: copy the "
                              "id from the model's Hub page (e.g. HuggingFaceTB/SmolLM2-135M), or set `source` to "
                              "local, gguf or package for a file on disk")


def check_maps(config: dict, schema: dict) -> None:
    """Maps whose keys name tasks, revisions or series: an unknown key is a typo that would silently fall back to
    the default (a misspelt task in `eval.limit` scores that task in full), so it is an error with a suggestion."""
    def check(where, keys, known, fix):
        for k in keys:
            if k not in known:
                raise ConfigError(f"`{where}` has a key {k!r}, not one of {', '.join(map(repr, known))}"
                                  f"{did_you_mean(k, known)}. Fix: {fix}")

    limit = config["eval"]["limit"]
    if isinstance(limit, dict):
        check("eval.limit", limit, config["eval"]["tasks"], "use the task names of `eval.tasks` (a task left out "
              "of the map is scored in full)")
    em = config.get("emergence") or {}
    if em.get("steps"):
        check("emergence.steps", em["steps"], em.get("revisions", []), "use names listed in `emergence.revisions`")
    seq = config.get("sequential") or {}
    if seq.get("compare"):
        names = schema["properties"]["ablation"]["properties"]["conditions"]["items"]["enum"]
        check("sequential.compare", seq["compare"], names, "name an ablation condition (entries for conditions "
              "`ablation.conditions` leaves out are ignored)")
    series = schema["properties"]["plots"]["properties"]["colors"]["default"]
    check("plots.colors", config["plots"]["colors"], list(series), "name one of the figures' series")


def check_choices(config: dict) -> None:
    """Choices that need another key: `detection.use: known` needs every run model's known coordinates; a model's
    `base` names another configured model."""
    if config["detection"]["use"] == "known":
        bare = [n for n in run_models(config) if not config["models"][n].get("super_weights")]
        if bare:
            raise ConfigError(f"`detection.use` is 'known' but `models.{bare[0]}.super_weights` is not set. Fix: list "
                              "the model's known coordinates ([[layer, row, col], ...]) or use `detection.use: detected` "
                              "or `both`")
    for n, m in config["models"].items():
        if m.get("base") is not None and (m["base"] == n or m["base"] not in config["models"]):
            raise ConfigError(f"`models.{n}.base` is {m['base']!r}, not another model under `models` (has: "
                              f"{', '.join(config['models'])}). Fix: name the base model's key, or remove `base`")
    conf = config["detection"]["confirm"]["corpus"]
    if conf in (evaluated := evaluated_corpora(config)):
        raise ConfigError(f"`detection.confirm.corpus` is {conf!r}, which `{evaluated[conf]}` evaluates: detection would "
                          "choose the super weights on the text that judges them. Fix: use 'wikitext2_validation'")
    if config.get("sequential"):
        check_sequential(config)
    check_amounts(config)


def check_amounts(config: dict) -> None:
    """`ablation.prune_nonsw.amount` read as its rule reads it: a count is a whole number of weights (0.5 would
    prune none), a fraction is below 1 (1 or more zeroes every weight)."""
    nonsw = config["ablation"]["prune_nonsw"]
    rule, amount = nonsw["rule"], nonsw["amount"]
    if rule == "count" and (amount < 1 or amount != int(amount)):
        raise ConfigError(f"`ablation.prune_nonsw.amount` is {amount!r}, but `rule: count` reads it as a number of "
                          f"weights ({int(amount):,} would be zeroed). Fix: give a whole number of weights (e.g. 100), "
                          "or `rule: fraction` for a share of them")
    if rule != "count" and amount >= 1:
        raise ConfigError(f"`ablation.prune_nonsw.amount` is {amount!r}, but `rule: {rule}` reads it as a fraction of "
                          "the weights: 1 or more zeroes every weight. Fix: give a fraction below 1 (the paper's "
                          "official rule: 1e-6), or `rule: count` for a number of weights")


def check_sequential(config: dict) -> None:
    """The `sequential` section: a scored condition is compared with scored conditions (entries for conditions the
    ablation does not score are ignored), none with itself or in a cycle (each is scored after its references),
    and the looks can split every maximum (eval.limit as one number, perplexity.windows)."""
    from superweight.scoring.looks import compared, look_sizes

    seq, conds = config["sequential"], config["ablation"]["conditions"]
    order = {c: list(dict.fromkeys(sum(compared(seq.get("compare"), c).values(), []))) for c in (seq.get("compare") or {})
             if c in conds}  # entries for conditions the ablation does not score are ignored
    for c, refs in order.items():
        for x in refs:
            if x not in conds:
                raise ConfigError(f"`sequential.compare.{c}` names {x!r}, not in `ablation.conditions` "
                                  f"({', '.join(conds)}). Fix: add {x} to the conditions or drop it from the comparison")

    def visit(c, path):
        if c in path:
            raise ConfigError(f"`sequential.compare` has a cycle: {' -> '.join([*path[path.index(c):], c])} (each "
                              "condition is scored after the ones it is compared with). Fix: drop one of these")
        for r in order.get(c, []):
            visit(r, [*path, c])
    for c in order:
        visit(c, [])
    limit = config["eval"]["limit"]  # per-task limits: the documents are scored in full (no looks to share)
    maxima = [("eval.limit", limit)] if order and config["eval"]["tasks"] and isinstance(limit, int) else []
    maxima += [(f"perplexity.windows.{c}", n) for c, n in (config["perplexity"].get("windows") or {}).items() if n]
    for key, n in maxima:
        try:
            look_sizes(seq["looks"], n)
        except ValueError as e:
            raise ConfigError(f"`sequential.looks` at `{key}` = {n}: {e}") from None


def _hub_config_json(m: dict) -> Path | None:
    """A Hub model's config.json when the local Hugging Face cache has it (no download)."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None
    try:
        hit = try_to_load_from_cache(m["id"], "config.json", revision=m.get("revision"))
    except Exception:  # a malformed id is reported when the model is prepared
        return None
    return Path(hit) if isinstance(hit, str) else None


def model_positions(name: str, m: dict, shape, prepared: str) -> tuple[int | None, str]:
    """(positions, where read) of a model: its prepared directory, else its source's metadata (config.json, GGUF
    header, the Hugging Face cache for a Hub model); (None, '') when not known before it is prepared."""
    done = Path(prepared.format(model=name)) / "config.json"
    if done.is_file():
        try:
            return shape_from_config_json(done).positions, str(done)
        except ModelSourceError:  # an incomplete job's output (or one being written by a running job): Snakemake
            pass  # redoes it, and prepare_model checks the positions itself; the source's facts below meanwhile
    if shape is not None and shape.positions:
        return shape.positions, f"{m['source']} {m['id']}"
    if m["source"] == "hub":
        cached = _hub_config_json(m)
        if cached is not None:
            try:
                return shape_from_config_json(cached).positions, str(cached)
            except ModelSourceError:
                return None, ""
    return None, ""


def _seqlens(config: dict) -> list[tuple[str, int]]:
    """(key, tokens per window) of every sequence the run feeds a model."""
    out = [("perplexity.seqlen", config["perplexity"]["seqlen"]),
           ("detection.confirm.seqlen", config["detection"]["confirm"]["seqlen"])]
    if set(config["mechanism"]["experiments"]) & {"skip", "significance"}:
        out.append(("mechanism.seqlen", config["mechanism"]["seqlen"]))
    return out


def check_positions(config: dict, name: str, positions: int | None, where: str) -> None:
    """No window longer than the model's positions (it would fail, or be sized at terabytes, after loading)."""
    if not positions:
        return
    for key, n in _seqlens(config):
        if n > positions:
            raise ConfigError(f"`{key}` is {n:,}, above the {positions:,} positions of model `{name}` (from {where}). "
                              f"Fix: use at most {positions}")


C4_SHIPPED_DOCS = 2000  # rows of the shipped c4/c4_validation_2k.parquet (its checksum is compared first)
C4_SHIPPED_BYTES = Path(__file__).with_name("c4_shipped_bytes.txt")  # bytes of its first n documents, n = 1..2000


def _c4_documents(data_dir: Path, mode: str) -> tuple[int | None, str]:
    """Documents in the C4 file: the shipped file's count when its checksum was compared, else the parquet
    footer's row count (when pyarrow is installed: the submit host need not have it)."""
    path = data_dir / FILES["c4"][0]
    if mode == "compare":
        return C4_SHIPPED_DOCS, str(path)
    try:
        import pyarrow.parquet as pq
    except ImportError:
        return None, ""
    try:
        return pq.ParquetFile(path).metadata.num_rows, str(path)
    except Exception as e:  # noqa: BLE001 -- any reader error is a damaged file
        raise ConfigError(f"`data_dir`: {path} cannot be read as parquet ({str(e).splitlines()[0][:120]}). Fix: copy "
                          "the file again (shared/data has the shipped one)") from None


def _c4_bytes(path: Path, n: int) -> int | None:
    """UTF-8 bytes of the first ``n`` documents of the C4 parquet (None without pyarrow or a readable file)."""
    try:
        import pyarrow.compute as pc
        import pyarrow.parquet as pq

        text = pq.read_table(path, columns=["text"]).column("text").slice(0, n)
        return int(pc.sum(pc.binary_length(text)).as_py() or 0) + max(n - 1, 0)  # the " " joining them
    except Exception:  # noqa: BLE001 -- no pyarrow on the submit host, or a file reported elsewhere
        return None


def check_c4_windows(config: dict, data_dir: Path, docs: int | None) -> None:
    """`perplexity.windows.c4` x `perplexity.seqlen` within what the first `perplexity.c4_docs` documents hold (a
    token is at least a byte): else only the windows they hold would be scored, fewer than configured, silently."""
    ppl = config["perplexity"]
    windows = (ppl.get("windows") or {}).get("c4")
    if "c4" not in ppl["corpora"] or not windows:
        return
    path = data_dir / FILES["c4"][0]
    n = ppl["c4_docs"]
    if config["data_checksums"] == "compare" and n <= C4_SHIPPED_DOCS:  # the shipped file: its table, no parquet read
        lines = [x for x in C4_SHIPPED_BYTES.read_text().splitlines() if not x.startswith("#")]
        size = int(lines[n - 1]) + max(n - 1, 0)  # the " " joining them
    else:
        size = _c4_bytes(path, n)
    if size is None:
        return
    most = int(size * 1.1) + 1000
    if windows * ppl["seqlen"] > most:
        more = (f"raise `perplexity.c4_docs` (the file has {docs:,}), or " if docs and docs > ppl["c4_docs"] else "")
        raise ConfigError(f"`perplexity.windows.c4` x `perplexity.seqlen` = {windows * ppl['seqlen']:,} tokens, more "
                          f"than the first {ppl['c4_docs']:,} C4 documents (`perplexity.c4_docs`) hold ({size:,} bytes "
                          f"in {path}: at most ~{most:,} tokens; only the windows they hold would be scored). Fix: "
                          f"{more}use fewer or shorter windows")


def c4_tokens_problem(config: dict, tokens: int, where: str) -> str | None:
    """`perplexity.windows.c4` x `perplexity.seqlen` against the tokens the first `perplexity.c4_docs` documents
    make with a model's tokenizer (``where``: what counted them), or None: else fewer windows than configured would
    be scored, silently. The byte bound at start (check_c4_windows) cannot know the tokenizer: this is checked by
    tokenize_corpus before it writes, and at start against a model's C4 already tokenized (check_tokenized_c4)."""
    ppl = config["perplexity"]
    windows = (ppl.get("windows") or {}).get("c4")
    if not windows or windows * ppl["seqlen"] <= tokens:
        return None
    return (f"`perplexity.windows.c4` x `perplexity.seqlen` = {windows * ppl['seqlen']:,} tokens, more than the first "
            f"{ppl['c4_docs']:,} C4 documents (`perplexity.c4_docs`) make with this model's tokenizer ({tokens:,} "
            f"tokens, {where}: {tokens // ppl['seqlen']} window(s) would be scored, not {windows}). Fix: raise "
            "`perplexity.c4_docs`, or use fewer or shorter windows")


def check_tokenized_c4(config: dict, prepared: str = "results/{model}/model") -> None:
    """c4_tokens_problem for each run model whose C4 is tokenized already with this `perplexity.c4_docs` (its
    results/{model}/corpora/c4.json): changed windows do not tokenize C4 again, so its job cannot check them."""
    if "c4" not in needed_datasets(config):
        return
    import json

    for name in run_models(config):
        path = Path(prepared.format(model=name)).parent / "corpora" / "c4.json"
        try:
            record = json.loads(path.read_text())
            tokens, docs = int(record["tokens"]), record["provenance"]["config"]["c4_docs"]
        except (OSError, ValueError, KeyError, TypeError):
            continue  # not tokenized yet (its job checks), or damaged (the damaged-result check names it)
        if docs == config["perplexity"]["c4_docs"] and (problem := c4_tokens_problem(config, tokens, str(path))):
            raise ConfigError(problem)


def check_sizes(config: dict, data_dir: Path | None) -> None:
    """Limits within each task's documents (the benchmark's own sizes: data shipped or from the Hub); windows
    within what the WikiText-2 files can hold (the test split; the validation split for confirmation: a token is at
    least a byte, give or take the rows' separators)."""
    from superweight.workflow.resources import TASKS

    if data_dir is None or config["data_checksums"] == "compare":
        for key, per in limits_by_key(config):
            for task, n in per.items():
                docs = TASKS.get(task, (None,))[0]
                if n is not None and docs is not None and n > docs:
                    where = f"{key}.{task}" if key == "eval.limit" and isinstance(config["eval"]["limit"], dict) else key
                    raise ConfigError(f"`{where}` is {n:,}, above the {docs:,} documents of {task}. Fix: use at most "
                                      f"{docs} (or null: every document)")
        texts = TASKS["lambada_openai"][0]
        for key, n in (("analysis.stopwords.n_prompts", config["analysis"]["stopwords"]["n_prompts"]),
                       ("mechanism.skip.n_prompts", config["mechanism"]["skip"]["n_prompts"])):
            if n > texts:
                raise ConfigError(f"`{key}` is {n:,}, above the {texts:,} LAMBADA texts. Fix: use at most {texts}")
    if data_dir is None:
        return
    if "c4" in needed_datasets(config):
        docs, where = _c4_documents(data_dir, config["data_checksums"])
        if docs is not None and config["perplexity"]["c4_docs"] > docs:
            raise ConfigError(f"`perplexity.c4_docs` is {config['perplexity']['c4_docs']:,}, above the {docs:,} "
                              f"documents of {where}. Fix: use at most {docs}")
        check_c4_windows(config, data_dir, docs)
    ppl, conf, mech = config["perplexity"], config["detection"]["confirm"], config["mechanism"]
    uses = []
    if "wikitext2" in ppl["corpora"] and ppl["windows"].get("wikitext2"):
        uses.append(("wikitext2", "perplexity.windows.wikitext2` x `perplexity.seqlen", ppl["windows"]["wikitext2"],
                     ppl["seqlen"]))
    if conf["corpus"] in ("wikitext2", "wikitext2_validation"):
        uses.append((conf["corpus"], "detection.confirm.windows` x `seqlen", conf["windows"], conf["seqlen"]))
    if mech["corpus"] == "wikitext2" and set(mech["experiments"]) & {"skip", "significance"}:
        uses.append(("wikitext2", "mechanism.windows` x `seqlen", mech["windows"], mech["seqlen"]))
    for corpus, key, windows, seqlen in uses:
        wt = data_dir / FILES[corpus][0]  # the validation split: its arrow file, about the raw text's size
        if not wt.is_file():
            continue
        size = wt.stat().st_size
        most = int(size * 1.1) + 1000
        if windows * seqlen > most:
            raise ConfigError(f"`{key}` = {windows * seqlen:,} tokens, more than {wt} holds ({size:,} bytes: at most "
                              f"~{most:,} tokens). Fix: fewer or shorter windows, or check that the file is complete")


def check_config_files(config: dict, cache: str | Path | None = None, prepared: str = "results/{model}/model") -> None:
    """Data files present and verified, sizes within the data and the models, model sources resolvable, known
    coordinates well formed."""
    from superweight.workflow.verify import verify_data

    data_dir = resolve_data_dir(config.get("data_dir"))
    try:
        verify_data(data_dir, needed_datasets(config), config["data_checksums"], cache)
    except DataError as e:
        raise ConfigError(f"`data_dir`: {e}") from None
    for name in run_models(config):
        m = config["models"][name]
        for c in m.get("super_weights") or []:
            if len(c) != 3 or any(int(v) < 0 for v in c):
                raise ConfigError(f"`models.{name}.super_weights`: {c} is not [layer, row, col] of non-negative ints")
        try:
            shape = model_shape(ModelSpec.from_config(m))  # None for a Hub model: checked when prepared
        except ModelSourceError as e:
            raise ConfigError(f"`models.{name}`: {e}") from None
        check_positions(config, name, *model_positions(name, m, shape, prepared))
        if shape is None:
            continue
        if shape.model_type is not None:
            try:
                get_adapter(shape.model_type)
            except UnsupportedModelError as e:
                raise ConfigError(f"`models.{name}`: {e}") from None
        for c in m.get("super_weights") or []:
            problems = shape.coordinate_problems(*map(int, c))
            if problems:
                raise ConfigError(
                    f"`models.{name}.super_weights`: {list(c)} does not fit this model ({'; '.join(problems)}; "
                    f"{shape.n_layers} layers, down projection {shape.hidden} x {shape.intermediate}). Fix: [layer, "
                    "row = residual channel, col = MLP channel], counted from 0")
    check_sizes(config, data_dir)  # after the models' positions: a window too long for the model is said first
    check_tokenized_c4(config, prepared)
