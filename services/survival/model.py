"""The survival models of a bundle on onnxruntime: risk score and survival curve per outcome.

Knows nothing of gRPC. Each outcome's entry (``survival.rfs``, ``survival.os``) holds an ONNX graph
(unscaled inputs → risk score) and a baseline survival table; S(t|x) = S0(t) ** exp(risk).
Files are read only through the bundle's sha256 check; nothing is unpickled.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import onnxruntime as ort  # type: ignore[import-untyped, unused-ignore]

from cervixai.bundle import BundleError, ModelEntry, load_bundle
from cervixai.errors import NotReady
from cervixai.features import FEATURE_NAMES
from cervixai.features.provenance import segmenter_sha256, serving_problem
from cervixai.survival import OUTCOMES
from cervixai.survival.curves import BaselineSurvival, CurveSummary, summarise
from cervixai.survival.inputs import (
    CLINICAL_INPUT,
    IMAGE_INPUT,
    REGRESSION_OUTPUT,
    RISK_OUTPUT,
    Feeds,
    clinical_plan,
)

log = logging.getLogger(__name__)
F32 = npt.NDArray[np.float32]
IMAGE_WIDTH = {"clinical": 0, "radiomics": len(FEATURE_NAMES), "paper": 256 * 256}


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


class SurvivalModel:
    """``load()`` the bundle's survival entries, ``warm_up()``, then ``predict()``."""

    def __init__(self, bundle: Path, *, threads: int = 1) -> None:
        self.bundle = bundle
        self.threads = threads
        self.outcomes: dict[str, OutcomeModel] = {}
        self.ready = False

    def load(self) -> None:
        """Load every survival entry of the bundle; BundleError says what is wrong."""
        bundle = load_bundle(self.bundle)
        names = [f"survival.{o}" for o in OUTCOMES if f"survival.{o}" in bundle.models]
        if not names:
            raise BundleError(f"bundle {self.bundle} has no survival model (survival.rfs, "
                              f"survival.os); train one with `cervixai train survival`")
        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        segmenter = segmenter_sha256(bundle)
        for name in names:
            entry = bundle.entry(name)
            try:
                session = ort.InferenceSession(bundle.verified_bytes(name), options,
                                               providers=["CPUExecutionProvider"])
                baseline = BaselineSurvival.from_json(bundle.verified_bytes(name, "baseline"))
                regression = None
                if "regression" in entry.files:   # the study's time regressor, optional
                    regression = ort.InferenceSession(
                        bundle.verified_bytes(name, "regression"), options,
                        providers=["CPUExecutionProvider"])
            except BundleError:
                raise
            except Exception as e:  # onnxruntime raises its own types for a corrupt graph
                raise BundleError(f"model {name!r} cannot be loaded: {e}") from e
            model = OutcomeModel(entry, session, baseline,
                                 frozenset(i.name for i in session.get_inputs()), regression)
            _check_inputs(name, model)
            problem = serving_problem(name, entry.parameters, IMAGE_INPUT in model.input_names,
                                      segmenter)
            if problem:
                raise BundleError(problem)
            self.outcomes[name.split(".", 1)[1]] = model
            log.info("loaded %s: %s on %s, version %s", name, entry.algorithm,
                     entry.feature_set, entry.version)

    def warm_up(self) -> None:
        """One inference per outcome on a neutral input; marks the model ready."""
        for outcome, model in self.outcomes.items():
            feeds: Feeds = {
                CLINICAL_INPUT: np.zeros((1, len(clinical_plan().columns)), np.float64)}
            if IMAGE_INPUT in model.input_names:
                feeds[IMAGE_INPUT] = np.zeros((1, IMAGE_WIDTH[model.feature_set]), np.float32)
            risk = self._risk(model, feeds)
            months = self._months(model, feeds)
            if not np.isfinite(risk).all() or (months is not None and not np.isfinite(months)):
                raise BundleError(f"survival.{outcome}: warm-up gave a non-finite answer")
        self.ready = True

    def predict(self, outcome: str, feeds: Feeds) -> Estimate:
        """Risk score and curve summary of one patient (feeds from cervixai.survival.inputs)."""
        if not self.ready:
            raise NotReady("the survival models are not loaded yet")
        model = self.outcomes[outcome]
        risk = float(self._risk(model, feeds)[0])
        curve = model.baseline.curves([risk])[0]
        summary = summarise(model.baseline.times_months, curve, model.baseline.follow_up_months)
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
