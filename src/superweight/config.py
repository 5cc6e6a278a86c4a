"""Workflow config validation: the JSON schema plus checks that need the file system, done before
any heavy work, each failure one message naming the key and the fix."""
from __future__ import annotations

from pathlib import Path

import yaml

from .data import DataError, check_data, resolve_data_dir
from .load import ModelSourceError, ModelSpec, resolve


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
    if err.validator == "required":
        return f"`{where}`: {err.message}. Fix: add that key (see config/config.yaml for an example)"
    return f"`{where}`: {err.message}"


def validate(config: dict, schema_path: str | Path, check_files: bool = True) -> dict:
    """Validate (filling schema defaults) and return the config; raise ConfigError on the first problem."""
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
    return config


def run_models(config: dict) -> list[str]:
    """The models this run runs: ``run_models`` when set (each must be under ``models``), else all of them."""
    from .protocol import run_models as selected

    unknown = [m for m in config.get("run_models") or [] if m not in config["models"]]
    if unknown:
        raise ConfigError(f"`run_models` names {', '.join(map(repr, unknown))}, not under `models` (has: "
                          f"{', '.join(config['models'])}). Fix: list only configured model names, or set it to null")
    return selected(config)


def needed_datasets(config: dict) -> list[str]:
    need = set(config["perplexity"]["corpora"]) | {config["detection"]["confirm"]["corpus"]}
    if config.get("ablation", {}).get("conditions"):
        need |= set(config["eval"]["tasks"])
    wq = config.get("quantization", {}).get("weights", {})
    if wq.get("z") == "auto":
        need.add(wq["calibration"]["corpus"])
    return sorted(need)


def check_config_files(config: dict) -> None:
    """Data files present, model sources resolvable, known coordinates well formed."""
    try:
        check_data(resolve_data_dir(config.get("data_dir")), needed_datasets(config))
    except DataError as e:
        raise ConfigError(f"`data_dir`: {e}") from None
    for name in run_models(config):
        m = config["models"][name]
        try:
            spec = ModelSpec.from_config(m)
            if spec.source != "hub":
                resolve(spec)
        except ModelSourceError as e:
            raise ConfigError(f"`models.{name}`: {e}") from None
    for name, m in config["models"].items():
        for c in m.get("super_weights") or []:
            if len(c) != 3 or any(int(v) < 0 for v in c):
                raise ConfigError(f"`models.{name}.super_weights`: {c} is not [layer, row, col] of non-negative ints")
