"""The classifier models: load and check the bundle's ``classifier.<task>`` graphs, predict on
arrays. No gRPC here; no scikit-learn anywhere in serving."""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from cervixai.bundle import Bundle, BundleError, ModelEntry
from cervixai.classification.inputs import TASK_STAGE, InputLayout, input_layout, model_input
from cervixai.features import ImageFeatureValues
from cervixai.features.provenance import segmenter_sha256, serving_problem
from cervixai.onnxrt import ort
from cervixai.service import BundleModel, OnnxSettings, ServedEntry
from cervixai.service.model import cpu_session

log = logging.getLogger(__name__)
INPUT_NAME = "features"
OUTPUT_NAME = "probabilities"


@dataclass(frozen=True)
class TaskModel:
    """One loaded graph and what the reply says about it."""

    task: str
    entry: ModelEntry
    layout: InputLayout
    session: ort.InferenceSession
    threshold: float
    target_sensitivity: float

    @property
    def needs_image(self) -> bool:
        return self.layout.image_width > 0


@dataclass(frozen=True)
class Prediction:
    task: str
    probability: float
    label: bool
    model: TaskModel


class ClassifierModel(BundleModel):
    """Every ``classifier.<task>`` model of a bundle, loaded only after its sha256 checks out."""

    service = "classifier"

    def __init__(self, bundle_path: Path, settings: OnnxSettings | None = None) -> None:
        super().__init__(bundle_path)
        self.settings = settings or OnnxSettings()
        self._models: dict[str, TaskModel] = {}

    @property
    def models(self) -> Mapping[str, TaskModel]:
        return self._models

    def _load(self, bundle: Bundle) -> Iterable[ServedEntry]:
        """Load and check every classifier of the bundle; BundleError says what is wrong."""
        names = sorted(n for n in bundle.models if n.startswith("classifier."))
        segmenter = segmenter_sha256(bundle)
        models = {}
        for name in names:
            model = self._load_task(bundle, name, segmenter)
            models[model.task] = model
            log.info("loaded %s: %s on %s features, version %s", name, model.entry.algorithm,
                     model.entry.feature_set, model.entry.version)
        self._models = models
        return [ServedEntry(m.entry) for m in models.values()]

    def _load_task(self, bundle: Bundle, name: str, segmenter: str | None) -> TaskModel:
        entry = bundle.entry(name)
        task = name.removeprefix("classifier.")
        if task not in TASK_STAGE or entry.task != task:
            raise BundleError(f"{name}: unknown task {entry.task!r}")
        layout = input_layout(entry.feature_set, task)
        recorded = entry.parameters.get("input_layout")
        if recorded != layout.to_dict():
            raise BundleError(f"{name}: the manifest's input layout differs from this "
                              "version's for feature set "
                              f"{entry.feature_set!r}{_image_difference(recorded, layout)}; "
                              "retrain the bundle")
        problem = serving_problem(name, entry.parameters, layout.image_width > 0, segmenter)
        if problem:
            raise BundleError(problem)
        session = cpu_session(bundle.verified_bytes(name), self.settings.threads, name)
        inputs, outputs = session.get_inputs(), session.get_outputs()
        if ([i.name for i in inputs] != [INPUT_NAME]
                or inputs[0].shape[1] != layout.width
                or OUTPUT_NAME not in [o.name for o in outputs]):
            raise BundleError(f"{name}: the graph must read {INPUT_NAME} (n, "
                              f"{layout.width}) and write {OUTPUT_NAME}; it reads "
                              f"{[(i.name, i.shape) for i in inputs]}")
        if entry.threshold is None or not 0.0 <= entry.threshold <= 1.0:
            raise BundleError(f"{name}: threshold {entry.threshold!r} is not in [0, 1]")
        target = float(entry.parameters.get("target_sensitivity", math.nan))
        return TaskModel(task, entry, layout, session, float(entry.threshold), target)

    def _warm_up(self) -> None:
        """One inference per model on a neutral input; raises if an output is not a
        probability."""
        for task, model in self._models.items():
            p = self._run(model, np.zeros((1, model.layout.width), np.float32))
            if not 0.0 <= p <= 1.0:
                raise BundleError(f"warm-up of {task} gave {p!r}, not a probability")

    def features(self, task: str, record: Mapping[str, object],
                 image: ImageFeatureValues | None) -> npt.NDArray[np.float32]:
        """The model's input row for one validated record (and its image features)."""
        model = self._models[task]
        return model_input(model.layout, [record], [image] if image is not None else None)

    def predict(self, task: str, features: npt.NDArray[np.float32]) -> Prediction:
        model = self._models[task]
        p = self._run(model, features)
        return Prediction(task, p, p >= model.threshold, model)

    def _run(self, model: TaskModel, features: npt.NDArray[np.float32]) -> float:
        with self.timed(model.entry.name):
            out = model.session.run([OUTPUT_NAME], {INPUT_NAME: features})[0]
        return float(out[0, 1])


def _image_difference(recorded: object, layout: InputLayout) -> str:
    """What differs in the named image features, for the refusal message ('' if they agree)."""
    current = layout.to_dict()["image_features"]
    if not isinstance(recorded, dict):
        return ""
    before = recorded.get("image_features")
    if before == current:
        return ""
    if before is None:
        return (f": the bundle records {recorded.get('image_width')} image features without "
                f"names, this version computes {len(current)}")
    missing = [n for n in current if n not in before]
    extra = [n for n in before if n not in current]
    detail = (f": the bundle was trained on {len(before)} image features, this version "
              f"computes {len(current)}")
    if missing:
        detail += f" (new: {', '.join(missing[:4])}{' …' if len(missing) > 4 else ''})"
    if extra:
        detail += f" (gone: {', '.join(extra[:4])}{' …' if len(extra) > 4 else ''})"
    if not missing and not extra:
        detail += " in another order"
    return detail
