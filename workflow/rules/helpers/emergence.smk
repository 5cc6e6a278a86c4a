# The emergence sweep's paths, params and resources (emergence.smk); its checked config is EMERGENCE (common.smk).
import dataclasses

EM = EMERGENCE or {"name": "none", "revisions": [], "reference": None, "corpus": None}  # none: nothing to run
EMERGENCE_DIR = runplan.emergence_dir(EMERGENCE)
EMERGENCE_DATA = data_id([EM["corpus"]] if EMERGENCE else [])  # its `data` param: checksums, not path
# only the keys that change a checkpoint's measurements: the emergence job's typed section (superweight.settings)
EMERGENCE_KEYS = [f.name for f in dataclasses.fields(settings.Emergence) if f.name != "detection"]
EMERGENCE_CFG = ({**{k: EM.get(k) for k in EMERGENCE_KEYS}, "detection": config["detection"]} if EMERGENCE else {})


def emergence_mem(wildcards, attempt=1):
    return int(max(4000, EM["params_b"] * 6000 * attempt))


def emergence_runtime(wildcards, attempt=1):
    return int(max(30, EM["params_b"] * 60 * attempt))
