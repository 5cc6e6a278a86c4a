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
    return log


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
