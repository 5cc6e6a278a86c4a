"""Which conditions a sequentially scored condition is compared with, and the sizes of its looks: plain Python
(no numpy), read by the workflow's host at start (config checks, the score rule's inputs) and by the scorer."""
from __future__ import annotations

import math
from typing import Mapping


def compared(compare: Mapping | None, condition: str) -> dict[str, list[str]]:
    """{"windows": [...], "docs": [...]}: the conditions ``condition`` is compared with while scored in looks
    (``compare``: `sequential.compare`, one list for both parts or a list per part; None: nothing is scored in
    looks), empty lists when it is scored in full."""
    c = (compare or {}).get(condition) or []
    return {p: list(c) if isinstance(c, (list, tuple)) else list(c.get(p) or []) for p in ("windows", "docs")}


def look_sizes(fractions, n_max: int) -> tuple[int, ...]:
    """Sample sizes of the looks: ceil(fraction x n_max), the last the maximum itself."""
    sizes = tuple(min(n_max, math.ceil(f * n_max - 1e-9)) for f in fractions)
    if not fractions or abs(fractions[-1] - 1) > 1e-12 or sizes[0] < 1 or any(b <= a for a, b in zip(sizes, sizes[1:])):
        raise ValueError(f"sequential.looks {list(fractions)} give looks {list(sizes)} at a maximum of {n_max}: "
                         "they must rise to 1 with every look at least one unit more than the last (fewer looks)")
    return sizes
