"""results/protocol.{md,json}: this run's settings against the paper's, and each model's detection outcome (no torch);
results/protocol_settings.{md,json}: the settings alone, before any model has run."""
import json
import logging
from pathlib import Path

from superweight.report.protocol import installed_versions, markdown, report

logging.basicConfig(filename=snakemake.log[0], level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
detections = ({m: json.loads(Path(f).read_text()) for m, f in zip(snakemake.params.models, snakemake.input.detect)}
              if snakemake.input.detect else None)  # protocol_settings: before any model has run
installed = installed_versions()
try:  # the Snakemake running this workflow (its package may be absent from a conda job environment)
    from snakemake import __version__ as smk_version

    installed["snakemake"] = installed.get("snakemake") or smk_version
except ImportError:
    pass
rep = report(snakemake.params.config, snakemake.params.local_data, detections, installed)
Path(snakemake.output.json).write_text(json.dumps(rep, indent=2) + "\n")
Path(snakemake.output.md).write_text(markdown(rep))
logging.info("%d setting(s) differ from the paper's protocol: %s", len(rep["differs"]),
             ", ".join(rep["differs"]) or "none")
for m in rep["detection_cap_reached"]:
    logging.warning("%s: detection stopped at its iteration cap (detection.max_iters) with spikes left", m)
