"""The Classifier servicer: ClassifyRequest → validated record and image features → the model
object → ClassifyResponse. Proto ↔ numpy only; no ML imports."""

from __future__ import annotations

import logging
from typing import Any

from cervix.v1 import classifier_pb2, classifier_pb2_grpc, common_pb2
from cervixai.classification.inputs import TASKS_BY_STAGE
from cervixai.clinical import Stage
from cervixai.clinical.proto import record_from_proto
from cervixai.errors import FieldViolation, InvalidInput
from cervixai.features import ImageFeatureValues, from_proto
from cervixai.served import ServedFacts
from services.classifier.metrics import PREDICTIONS
from services.classifier.model import ClassifierModel

log = logging.getLogger(__name__)
STAGES = {common_pb2.STAGE_PREOPERATIVE: Stage.PREOPERATIVE,
          common_pb2.STAGE_POSTOPERATIVE: Stage.POSTOPERATIVE}
TASK_NAMES = {number: name.removeprefix("TASK_").lower()
              for name, number in common_pb2.Task.items() if number != 0}


class ClassifierServicer(classifier_pb2_grpc.ClassifierServicer):
    def __init__(self, model: ClassifierModel) -> None:
        self.model = model
        self.facts = ServedFacts("classifier")

    def Predict(self, request: classifier_pb2.ClassifyRequest, context: Any
                ) -> classifier_pb2.ClassifyResponse:
        stage = STAGES.get(request.stage)
        if stage is None:
            raise InvalidInput.single("stage", "must be STAGE_PREOPERATIVE or "
                                      f"STAGE_POSTOPERATIVE, got {request.stage}")
        warnings: list[str] = []
        tasks = self._tasks(request, stage, warnings)
        record = record_from_proto(request.clinical, stage)
        image = self._image(request, tasks, warnings)
        reply = classifier_pb2.ClassifyResponse(warnings=warnings)
        for task in tasks:
            prediction = self.model.predict(task, self.model.features(task, record, image))
            entry = prediction.model.entry
            reply.predictions.append(classifier_pb2.TaskPrediction(
                task=f"TASK_{task.upper()}", probability=prediction.probability,
                label=prediction.label, threshold=prediction.model.threshold,
                target_sensitivity=prediction.model.target_sensitivity,
                model=entry.to_proto()))
            figures = self.facts.operating_characteristics(entry)
            if figures is not None:
                reply.predictions[-1].operating_characteristics.CopyFrom(figures)
            if image is not None and prediction.model.needs_image:
                outside = self.facts.range_warning(task, entry, image.radiomics)
                if outside:
                    reply.warnings.append(outside)
            PREDICTIONS.labels(task, "positive" if prediction.label else "negative").inc()
        return reply

    def _tasks(self, request: classifier_pb2.ClassifyRequest, stage: Stage,
               warnings: list[str]) -> list[str]:
        allowed = TASKS_BY_STAGE[stage]
        if not request.tasks:
            missing = [t for t in allowed if t not in self.model.models]
            if missing:
                warnings.append(f"the bundle has no model for {', '.join(missing)}")
            return [t for t in allowed if t in self.model.models]
        problems: list[FieldViolation] = []
        tasks: list[str] = []
        for i, number in enumerate(request.tasks):
            name = TASK_NAMES.get(number)
            where = f"tasks[{i}]"
            if name is None:
                problems.append(FieldViolation(where, f"unknown task {number}; expected one of "
                                               f"{', '.join(common_pb2.Task.keys()[1:])}"))
            elif name not in allowed:
                problems.append(FieldViolation(where, f"{name} is not available for a "
                                               f"{stage.value} assessment (allowed: "
                                               f"{', '.join(allowed)})"))
            elif name not in self.model.models:
                problems.append(FieldViolation(where, f"the bundle has no model for {name}"))
            elif name not in tasks:
                tasks.append(name)
        if problems:
            raise InvalidInput(problems)
        return tasks

    def _image(self, request: classifier_pb2.ClassifyRequest, tasks: list[str],
               warnings: list[str]) -> ImageFeatureValues | None:
        needing = [t for t in tasks if self.model.models[t].needs_image]
        if not needing:
            return None
        if not request.HasField("image_features"):
            sets = sorted({self.model.models[t].layout.feature_set for t in needing})
            raise InvalidInput.single(
                "image_features", f"required: the model of {', '.join(needing)} reads "
                f"{'/'.join(sets)} image features")
        image = from_proto(request.image_features)
        if not image.lesion_found:
            warnings.append("no lesion was found: the image features describe no lesion")
        return image
