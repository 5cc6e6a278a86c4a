"""The super weights downstream experiments use: known coordinates checked against the model and compared with
detection's candidates, the ``used`` list chosen by ``detection.use``, and its one reader (``used_super_weights``).
Imports no torch: the report reads the list too."""
from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from torch import nn

Coord = tuple[int, int, int]

# Why an experiment on the super weights was skipped: the used set (``detection.use``) is empty (detection
# confirmed none, or no coordinate is known): one wording in every result, table and figure
NONE_USED = "no super weight used"


KNOWN_STATUS = ("found", "found-unconfirmed", "missed", "new")


def compare_known(candidates: list, known: list[Coord]) -> list[dict]:
    """Each known coordinate as ``found`` (a confirmed candidate), ``found-unconfirmed`` (a candidate that was
    not confirmed, or confirmation was skipped) or ``missed`` (not a candidate); each confirmed candidate that is
    not known as ``new``."""
    by_coord = {c.coord: c for c in candidates}
    rows = []
    for k in sorted({tuple(k) for k in known}):
        c = by_coord.get(k)
        status = "missed" if c is None else "found" if c.confirmed else "found-unconfirmed"
        rows.append({"layer": k[0], "row": k[1], "col": k[2], "status": status,
                     "candidate_status": None if c is None else c.status})
    rows += [{"layer": c.layer, "row": c.row, "col": c.col, "status": "new", "candidate_status": c.status}
             for c in sorted(candidates, key=lambda c: c.coord) if c.confirmed and c.coord not in set(map(tuple, known))]
    return rows


class KnownCoordinateError(ValueError):
    """A configured super-weight coordinate that does not fit the model (one line, names the key and the fix)."""


def check_known(model: nn.Module, known: list[Coord] | None, key: str = "super_weights") -> None:
    """Every known coordinate fits the model's down projections, else one line naming ``key`` and the fix."""
    from superweight.models.adapters import get_adapter

    a = get_adapter(model)
    for k in known or []:
        try:
            a.check_coord(model, *k)
        except IndexError as e:
            raise KnownCoordinateError(f"`{key}`: {e}") from None


USES = ("detected", "known", "both")


def used_list(candidates: list, known: list[Coord] | None, use: str = "detected",
              key: str = "super_weights") -> list[dict]:
    """The super weights downstream experiments use: the confirmed detected ones, the known coordinates, or both
    (their union); each with its ``source``: detected, known or both."""
    if use not in USES:
        raise ValueError(f"detection.use must be one of {', '.join(USES)}, got {use!r}")
    det = {c.coord for c in candidates if c.confirmed}
    kn = {tuple(k) for k in known or []}
    if use == "known" and not kn:
        raise KnownCoordinateError(f"`detection.use: known` but `{key}` lists no coordinates: "
                                   "set them or use `detection.use: detected`")
    chosen = det if use == "detected" else kn if use == "known" else det | kn
    return [{"layer": c[0], "row": c[1], "col": c[2],
             "source": "both" if c in det and c in kn else "detected" if c in det else "known"} for c in sorted(chosen)]


def used_super_weights(summary: dict | str | Path) -> list[Coord]:
    """The super weights every downstream experiment uses, from detection's summary (or its JSON path):
    the ``used`` list, chosen by ``detection.use``. The one reader of that list."""
    if not isinstance(summary, dict):
        path = summary
        summary = json.loads(Path(path).read_text())
    else:
        path = "detection summary"
    if "used" not in summary:
        raise KeyError(f"{path} has no `used` list (written by an older version): rerun the detect rule")
    return [(int(c["layer"]), int(c["row"]), int(c["col"])) for c in summary["used"]]
