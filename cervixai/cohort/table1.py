"""The study's Table 1 (n = 250), shipped with the package: the target of the synthetic cohort."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any


@cache
def table1() -> dict[str, Any]:
    """The parsed table: ``continuous`` (mean/sd or median/iqr) and ``categorical`` (counts)."""
    text = resources.files("cervixai.cohort").joinpath("data/paper_table1.json").read_text()
    data: dict[str, Any] = json.loads(text)
    return data


def shares(variable: str) -> dict[str, float]:
    """Level → share of the patients whose level is known, in the table's order."""
    counts: dict[str, int] = table1()["categorical"][variable]
    total = sum(counts.values())
    return {level: n / total for level, n in counts.items()}
