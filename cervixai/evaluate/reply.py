"""What one assessment served, read off the gateway's reply (the JSON form of
``cervix.v1.AssessResponse`` with proto field names, as ``POST /v1/assessments`` returns it)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from google.protobuf.json_format import ParseDict, ParseError

from cervix.v1 import common_pb2


class MalformedReply(ValueError):
    """The gateway answered 200 with a body this evaluation cannot read."""


@dataclass(frozen=True)
class TaskServed:
    probability: float
    threshold: float
    model_version: str


@dataclass(frozen=True)
class SurvivalServed:
    risk_score: float
    curve: list[tuple[float, float]]
    model_version: str


@dataclass(frozen=True)
class Served:
    """The parts of one reply the metrics need."""

    predictions: dict[str, TaskServed]
    survival: dict[str, SurvivalServed]
    mask: npt.NDArray[np.bool_]
    matrix: tuple[int, int]              # the series' original (rows, columns)
    models: dict[str, str] = field(default_factory=dict)   # model name → version
    warnings: list[str] = field(default_factory=list)


def task_name(value: str) -> str:
    """``TASK_RECURRENCE`` → ``recurrence``."""
    return str(value).removeprefix("TASK_").lower()


def outcome_name(value: str) -> str:
    """``SURVIVAL_OUTCOME_RFS`` → ``rfs``."""
    return str(value).removeprefix("SURVIVAL_OUTCOME_").lower()


def parse_reply(body: Mapping[str, Any]) -> Served:
    """The served predictions, survival estimates, mask and matrix; MalformedReply names what is
    missing (never a value)."""
    from cervixai.masks import decode_mask

    try:
        predictions = {task_name(p["task"]): TaskServed(float(p["probability"]),
                                                        float(p["threshold"]),
                                                        str(p.get("model", {}).get("version", "")))
                       for p in body.get("predictions", [])}
        survival = {outcome_name(s["outcome"]): SurvivalServed(
            float(s["risk_score"]),
            [(float(point["months"]), float(point["probability"]))
             for point in s.get("curve", [])],
            str(s.get("model", {}).get("version", "")))
            for s in body.get("survival", [])}
        series = body["series"]
        matrix = (int(series["original_rows"]), int(series["original_columns"]))
        mask_message = ParseDict(body["segmentation"]["mask"], common_pb2.Mask())
        models = {str(m["name"]): str(m.get("version", "")) for m in body.get("models", [])}
    except (KeyError, TypeError, ValueError, ParseError) as e:
        raise MalformedReply(f"the reply lacks or garbles a field ({type(e).__name__}: "
                             f"{e.args[0] if e.args and isinstance(e, KeyError) else 'value'})"
                             ) from e
    try:
        mask = decode_mask(mask_message, field="segmentation.mask")
    except Exception as e:
        raise MalformedReply(f"the reply's mask cannot be decoded: {e}") from e
    return Served(predictions, survival, mask, matrix, models,
                  [str(w) for w in body.get("warnings", [])])
