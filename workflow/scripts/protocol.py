"""results/protocol.{md,json}: this run's settings against the paper's (config only, no torch)."""
import _common  # noqa: F401
import json
import logging
from pathlib import Path

from superweight.protocol import markdown, report

logging.basicConfig(filename=snakemake.log[0], level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
rep = report(snakemake.params.config, snakemake.params.data_dir)
Path(snakemake.output.json).write_text(json.dumps(rep, indent=2) + "\n")
Path(snakemake.output.md).write_text(markdown(rep))
logging.info("%d setting(s) differ from the paper: %s", len(rep["differs"]), ", ".join(rep["differs"]) or "none")
