"""The survival models of a bundle on onnxruntime: risk score and survival curve per outcome.

Knows nothing of gRPC. Each outcome's entry (``survival.rfs``, ``survival.os``) holds an ONNX graph
(unscaled inputs → risk score) and a baseline survival table; S(t|x) = S0(t) ** exp(risk).
Files are read only through the bundle's sha256 check; nothing is unpickled.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from cervixai.bundle import Bundle, BundleError, ModelEntry
from cervixai.classification.inputs import IMAGE_WIDTH
from cervixai.features import ImageFeatureValues
from cervixai.features.provenance import segmenter_sha256, serving_problem
from cervixai.onnxrt import ort
from cervixai.service import BundleModel, OnnxSettings, ServedEntry
from cervixai.service.model import cpu_session
from cervixai.survival import OUTCOMES
from cervixai.survival.curves import BaselineSurvival, CurveSummary, summarise
from cervixai.survival.inputs import (
    CLINICAL_INPUT,
    IMAGE_INPUT,
    REGRESSION_OUTPUT,
    RISK_OUTPUT,
    Feeds,
    clinical_plan,
    model_inputs,
)

log = logging.getLogger(__name__)
F32 = npt.NDArray[np.float32]


@dataclass(frozen=True)
class Estimate:
    """One outcome's answer for one patient."""

    outcome: str
    risk_score: float
    summary: CurveSummary
    entry: ModelEntry
    regression_months: float | None = None


@dataclass
class OutcomeModel:
    entry: ModelEntry
    session: ort.InferenceSession
    baseline: BaselineSurvival
    input_names: frozenset[str]
    regression: ort.InferenceSession | None = None

    @property
    def feature_set(self) -> str:
        return self.entry.feature_set

    @property
    def reads_image(self) -> bool:
        return IMAGE_INPUT in self.input_names


class SurvivalModel(BundleModel):
    """The bundle's ``survival.<outcome>`` entries: ``predict()`` a risk score and curve."""

    service = "survival"

    def __init__(self, bundle_path: Path, settings: OnnxSettings | None = None) -> None:
        super().__init__(bundle_path)
        self.settings = settings or OnnxSettings()
        self.outcomes: dict[str, OutcomeModel] = {}

    def _load(self, bundle: Bundle) -> Iterable[ServedEntry]:
        """Load every survival entry of the bundle; BundleError says what is wrong."""
        names = [f"survival.{o}" for o in OUTCOMES if f"survival.{o}" in bundle.models]
        if not names:
            raise BundleError(f"bundle {self.bundle_path} has no survival model (survival.rfs, "
                              f"survival.os); train one with `cervixai train survival`")
        segmenter = segmenter_sha256(bundle)
        outcomes = {}
        for name in names:
            model = self._load_outcome(bundle, name, segmenter)
            outcomes[name.split(".", 1)[1]] = model
            log.info("loaded %s: %s on %s, version %s", name, model.entry.algorithm,
                     model.entry.feature_set, model.entry.version)
        self.outcomes = outcomes
        return [ServedEntry(m.entry) for m in outcomes.values()]

    def _load_outcome(self, bundle: Bundle, name: str, segmenter: str | None) -> OutcomeModel:
        entry = bundle.entry(name)
        threads = self.settings.threads
        session = cpu_session(bundle.verified_bytes(name), threads, name)
        try:
            baseline = BaselineSurvival.from_json(bundle.verified_bytes(name, "baseline"))
        except BundleError:
            raise
        except Exception as e:  # a malformed table
            raise BundleError(f"model {name!r}: its baseline survival cannot be read: {e}") from e
        regression = None
        if "regression" in entry.files:   # the study's time regressor, optional
            regression = cpu_session(bundle.verified_bytes(name, "regression"), threads, name)
        model = OutcomeModel(entry, session, baseline,
                             frozenset(i.name for i in session.get_inputs()), regression)
        _check_inputs(name, model)
        problem = serving_problem(name, entry.parameters, model.reads_image, segmenter)
        if problem:
            raise BundleError(problem)
        return model

    def _warm_up(self) -> None:
        """One inference per outcome on a neutral input."""
        for outcome, model in self.outcomes.items():
            feeds: Feeds = {
                CLINICAL_INPUT: np.zeros((1, len(clinical_plan().columns)), np.float64)}
            if model.reads_image:
                feeds[IMAGE_INPUT] = np.zeros((1, IMAGE_WIDTH[model.feature_set]), np.float32)
            risk = self._risk(model, feeds)
            months = self._months(model, feeds)
            if not np.isfinite(risk).all() or (months is not None and not np.isfinite(months)):
                raise BundleError(f"survival.{outcome}: warm-up gave a non-finite answer")

    def reading_image(self, outcomes: Iterable[str]) -> list[str]:
        """Those of ``outcomes`` whose model reads image features."""
        return [o for o in outcomes if self.outcomes[o].reads_image]

    def predict(self, outcome: str, record: Mapping[str, object],
                image: ImageFeatureValues | None) -> Estimate:
        """Risk score and curve summary of one patient's validated record (and image features,
        for a model that reads them)."""
        model = self.outcomes[outcome]
        with self.timed(model.entry.name):
            feeds = model_inputs(model.feature_set, [record],
                                 [image] if image is not None and model.reads_image else None)
            risk = float(self._risk(model, feeds)[0])
            curve = model.baseline.curves([risk])[0]
            summary = summarise(model.baseline.times_months, curve,
                                model.baseline.follow_up_months)
            return Estimate(outcome, risk, summary, model.entry, self._months(model, feeds))

    @staticmethod
    def _risk(model: OutcomeModel, feeds: Feeds) -> F32:
        (risk,) = model.session.run([RISK_OUTPUT], {k: v for k, v in feeds.items()
                                                    if k in model.input_names})
        return np.asarray(risk, dtype=np.float32)

    @staticmethod
    def _months(model: OutcomeModel, feeds: Feeds) -> float | None:
        if model.regression is None:
            return None
        (months,) = model.regression.run([REGRESSION_OUTPUT], {
            k: v for k, v in feeds.items() if k in model.input_names})
        return float(np.asarray(months).reshape(-1)[0])


def _check_inputs(name: str, model: OutcomeModel) -> None:
    expected: dict[str, Any] = {CLINICAL_INPUT: len(clinical_plan().columns)}
    width = IMAGE_WIDTH.get(model.feature_set)
    if width is None:
        raise BundleError(f"model {name!r}: unknown feature set {model.feature_set!r}")
    if width:
        expected[IMAGE_INPUT] = width
    actual = {i.name: i.shape[1] for i in model.session.get_inputs()}
    if actual != expected:
        raise BundleError(f"model {name!r}: graph inputs {actual} do not match feature set "
                          f"{model.feature_set!r} (expected {expected})")
