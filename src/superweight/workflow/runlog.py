"""Per-job logging for workflow scripts: everything (logging, warnings, tqdm) goes to the rule's log file."""
from __future__ import annotations

import atexit
import contextlib
import logging
import os
import resource
import sys


def start(smk) -> logging.Logger:
    """Send this job's logging and stderr to ``smk.log[0]`` (when the rule has a log)."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if smk.log:
        os.makedirs(os.path.dirname(smk.log[0]) or ".", exist_ok=True)
        f = open(smk.log[0], "w", buffering=1)
        sys.stderr = f
        handler = logging.StreamHandler(f)
    else:
        handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    logging.captureWarnings(True)
    try:
        import torch

        torch.set_num_threads(max(1, int(getattr(smk, "threads", 1) or 1)))
    except ImportError:
        pass
    log = logging.getLogger("superweight.job")
    atexit.register(log_peak_memory, log)
    if smk.log:
        atexit.register(write_work_record, log, smk.log[0] + ".work.json")
    return log


def write_work_record(log: logging.Logger, path: str) -> None:
    """What the job forwarded (superweight.models.meter), beside its log: tokens and forward seconds per purpose,
    start-up and loading seconds. Written only by jobs that loaded a model."""
    import json

    from superweight.models.meter import METER

    if METER.first_load_at is None:
        return
    rec = METER.record()
    log.info("forwarded %d tokens in %.1f s (start-up %.1f s, loading %.1f s): %s", rec["tokens"], rec["forward_s"],
             rec["startup_s"], rec["load_s"], {k: v["tokens"] for k, v in rec["by_purpose"].items()})
    with open(path, "w") as f:
        json.dump(rec, f, indent=2)


PEAK_LINE = "peak resident memory of this job: %.0f MB (getrusage)"


def log_peak_memory(log: logging.Logger) -> None:
    """The job's true peak RSS, as the kernel counted it. Snakemake's benchmark samples memory now and then and can
    miss a short peak (a model conversion's last seconds); this line is the figure to size ``mem_mb`` by."""
    log.info(PEAK_LINE, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6)  # Linux: KiB


@contextlib.contextmanager
def one_line_errors(log: logging.Logger, key: str):
    """A user-facing error (bad model source, unsupported family, missing data) ends the job with one line naming
    the config key and the fix, in the log and on the console, instead of a traceback."""
    from superweight.models.adapters import UnsupportedModelError
    from superweight.scoring.data import DataError
    from superweight.models.sources import ModelSourceError

    try:
        yield
    except (ModelSourceError, UnsupportedModelError, DataError) as e:
        msg = f"error: `{key}`: {e}"
        log.error(msg)
        print(msg, file=sys.__stderr__)
        sys.exit(1)
