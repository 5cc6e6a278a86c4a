"""Workflow config validation: the JSON schema plus checks that need the file system, done before
any heavy work, each failure one message naming the key and the fix. Imports no torch: it runs when Snakemake
parses the workflow on the submit host."""
from __future__ import annotations

from pathlib import Path

import yaml

from .adapters import UnsupportedModelError, get_adapter
from .data import DataError, check_data, resolve_data_dir
from .sources import ModelSourceError, ModelSpec, model_shape


class ConfigError(ValueError):
    """A bad config value; the message names the key and the fix."""


def _where(path) -> str:
    return ".".join(str(p) for p in path) or "(top level)"


def _explain(err) -> str:
    import jsonschema

    err = jsonschema.exceptions.best_match([err]) if not isinstance(err, jsonschema.ValidationError) else err
    where = _where(err.absolute_path)
    if err.validator == "additionalProperties":
        allowed = sorted(err.schema.get("properties", {}))
        extra = sorted(set(err.instance) - set(allowed))
        return (f"unknown key {', '.join(map(repr, extra))} in `{where}`. Fix: check the spelling; allowed keys: "
                f"{', '.join(allowed)}")
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
             paper_results: str | Path | None = None) -> dict:
    """Validate (filling schema defaults) and return the config; raise ConfigError on the first problem.
    ``paper_results``: config/paper_results.yaml, against which each model's ``paper`` key is checked."""
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
    if check_files:
        check_config_files(config)
    if paper_results is not None:
        check_paper_keys(config, paper_results)
    return config


def run_models(config: dict) -> list[str]:
    """The models this run runs: ``run_models`` when set (each must be under ``models``), else all of them."""
    from .protocol import run_models as selected

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
    need = set(config["perplexity"]["corpora"]) | {config["detection"]["confirm"]["corpus"]}
    if config.get("ablation", {}).get("conditions"):
        need |= set(config["eval"]["tasks"])
    wq = config.get("quantization", {}).get("weights", {})
    if wq.get("z") == "auto":
        need.add(wq["calibration"]["corpus"])
    aq = config.get("quantization", {}).get("activations", {})
    if "smoothquant" in aq.get("methods", []):
        need.add(aq["calibration"]["corpus"])
    return sorted(need)


def check_config_files(config: dict) -> None:
    """Data files present, model sources resolvable, known coordinates well formed."""
    try:
        check_data(resolve_data_dir(config.get("data_dir")), needed_datasets(config))
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
