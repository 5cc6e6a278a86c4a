"""The run's summary for the report's landing page: per model, what detection found and what removing it did."""
from __future__ import annotations

import json
from pathlib import Path


def _ppl(scores_file: Path | None, corpus: str = "wikitext2"):
    if scores_file is None or not Path(scores_file).is_file():
        return None
    s = json.loads(Path(scores_file).read_text())
    v = ((s.get("scores") or {}).get("perplexity") or {}).get(corpus, {})
    return v.get("ppl") if isinstance(v, dict) else None


def run_summary(models: dict[str, dict]) -> str:
    """Markdown from each model's ``{"detect": super_weights.json, "original": ..., "prune_sw": scores.json}``."""
    lines = ["# Run summary", "",
             "| model | detection | super weights [layer, row, col] (ppl x when zeroed alone) | known coordinates "
             "| WikiText-2 ppl: original → super weights zeroed |",
             "|---|---|---|---|---|"]
    for name, files in models.items():
        d = json.loads(Path(files["detect"]).read_text())
        sws = ", ".join(f"[{c['layer']}, {c['row']}, {c['col']}] (x{c['ppl_ratio']:.3g})"
                        if isinstance(c.get("ppl_ratio"), (int, float)) else f"[{c['layer']}, {c['row']}, {c['col']}]"
                        for c in d.get("super_weights", [])) or "none"
        known = ", ".join(f"[{k['layer']}, {k['row']}, {k['col']}] {k['status']}" for k in d.get("known") or []) or "-"
        a, b = _ppl(files.get("original")), _ppl(files.get("prune_sw"))
        ppl = f"{a} → {b}" if a is not None and b is not None else "not scored"
        lines.append(f"| {name} | {d.get('status', '?')} ({len(d.get('candidates', []))} candidate(s)) | {sws} "
                     f"| {known} | {ppl} |")
    lines += ["", "Each table and figure of the report has its own page; every number comes from a result file under "
              "`results/` with its provenance (config, versions, data checksums)."]
    return "\n".join(lines) + "\n"
