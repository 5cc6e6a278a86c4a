# The emergence sweep's checked config, paths and resources (emergence.smk).


def _emergence():
    """The checked `emergence:` block (reference filled in), or None; a bad one stops the run with one message."""
    from superweight.analysis.emergence import EmergenceConfigError, check

    if not config.get("emergence"):
        return None
    try:
        return check(config["emergence"])
    except EmergenceConfigError as e:
        raise WorkflowError(f"config error: {e}") from None


EMERGENCE = _emergence()
EM = EMERGENCE or {"name": "none", "revisions": [], "reference": None, "corpus": None}  # none: nothing to run
EMERGENCE_DIR = f"results/emergence/{EM['name']}"
EMERGENCE_DATA = data_id([EM["corpus"]] if EMERGENCE else [])  # its `data` param: checksums, not path
# only the keys that change a checkpoint's measurements
EMERGENCE_CFG = ({**{k: EM.get(k) for k in ("source", "id", "dtype", "steps", "corpus")},
                  "detection": config["detection"]} if EMERGENCE else {})


# what `all` renders of the sweep, when configured: its figure and table
EMERGENCE_OUTPUTS = ([f"{EMERGENCE_DIR}/emergence.{config['plots']['format']}", f"{EMERGENCE_DIR}/emergence.md"]
                     if EMERGENCE else [])
# the raw results they are made from (targets of `all` too: common.smk, raw_outputs)
EMERGENCE_RAW = ([f"{EMERGENCE_DIR}/{f}" for f in ("reference.json", "emergence.csv", "emergence.json")]
                 + [f"{EMERGENCE_DIR}/steps/{r}.json" for r in EM["revisions"]] if EMERGENCE else [])


def emergence_mem(wildcards, attempt=1):
    return int(max(4000, EM.get("params_b", 1.0) * 6000 * attempt))


def emergence_runtime(wildcards, attempt=1):
    return int(max(30, EM.get("params_b", 1.0) * 60 * attempt))
