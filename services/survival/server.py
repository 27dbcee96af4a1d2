"""The Survival gRPC servicer: request → validated arrays → model → SurvivalResponse."""

from __future__ import annotations

import time

from cervix.v1 import survival_pb2, survival_pb2_grpc
from cervixai.clinical import Stage
from cervixai.clinical.proto import record_from_proto
from cervixai.errors import FieldViolation, InvalidInput
from cervixai.features import ImageFeatureValues, from_proto
from cervixai.served import ServedFacts
from cervixai.survival.curves import horizons_beyond
from cervixai.survival.inputs import model_inputs
from services.survival.metrics import ESTIMATES, INFERENCE_SECONDS
from services.survival.model import Estimate, SurvivalModel

SERVICE_NAME = survival_pb2.DESCRIPTOR.services_by_name["Survival"].full_name
_OUTCOME_OF = {survival_pb2.SURVIVAL_OUTCOME_RFS: "rfs", survival_pb2.SURVIVAL_OUTCOME_OS: "os"}
_ENUM_OF = {v: k for k, v in _OUTCOME_OF.items()}


class SurvivalServicer(survival_pb2_grpc.SurvivalServicer):
    def __init__(self, model: SurvivalModel) -> None:
        self.model = model
        self.facts = ServedFacts("survival")

    def Predict(self, request: survival_pb2.SurvivalRequest, context: object
                ) -> survival_pb2.SurvivalResponse:
        outcomes = self._outcomes(request)
        violations: list[FieldViolation] = []
        try:
            record = record_from_proto(request.clinical, Stage.POSTOPERATIVE)
        except InvalidInput as e:
            violations += e.violations
            record = None
        needs_image = {o for o in outcomes
                       if self.model.outcomes[o].feature_set != "clinical"}
        features: ImageFeatureValues | None = None
        warnings: list[str] = []
        if needs_image:
            if not request.HasField("image_features"):
                violations.append(FieldViolation(
                    "image_features", f"required: the {', '.join(sorted(needs_image))} model "
                    f"uses the {self.model.outcomes[min(needs_image)].feature_set!r} features"))
            else:
                try:
                    features = from_proto(request.image_features)
                except InvalidInput as e:
                    violations += e.violations
        elif request.HasField("image_features"):
            warnings.append("image_features were ignored: the survival models use clinical "
                            "variables only")
        if violations:
            raise InvalidInput(violations)
        assert record is not None
        response = survival_pb2.SurvivalResponse()
        for outcome in outcomes:
            model = self.model.outcomes[outcome]
            feeds = model_inputs(model.feature_set, [record],
                                 None if features is None else [features])
            started = time.perf_counter()
            estimate = self.model.predict(outcome, feeds)
            INFERENCE_SECONDS.labels(outcome).observe(time.perf_counter() - started)
            response.estimates.append(_estimate_message(estimate))
            figures = self.facts.survival_performance(estimate.entry)
            if figures is not None:
                response.estimates[-1].performance.CopyFrom(figures)
            if features is not None and model.feature_set != "clinical":
                outside = self.facts.range_warning(outcome, estimate.entry, features.radiomics)
                if outside:
                    warnings.append(outside)
            ESTIMATES.labels(outcome, str(estimate.summary.median_months is not None).lower()
                             ).inc()
            late = horizons_beyond(estimate.summary.follow_up_months)
            if late:
                warnings.append(
                    f"{outcome}: survival at {', '.join(f'{h:g}' for h in late)} months is the "
                    f"curve's value at the end of the training follow-up "
                    f"({estimate.summary.follow_up_months:.1f} months): an extrapolation")
        response.warnings.extend(warnings)
        return response

    def _outcomes(self, request: survival_pb2.SurvivalRequest) -> list[str]:
        if not request.outcomes:
            return list(self.model.outcomes)
        chosen: list[str] = []
        violations = []
        for i, value in enumerate(request.outcomes):
            outcome = _OUTCOME_OF.get(value)
            if outcome is None:
                violations.append(FieldViolation(
                    f"outcomes[{i}]", f"must be SURVIVAL_OUTCOME_RFS or SURVIVAL_OUTCOME_OS, "
                    f"got {value}"))
            elif outcome not in self.model.outcomes:
                violations.append(FieldViolation(
                    f"outcomes[{i}]", f"this service has no {outcome.upper()} model"))
            elif outcome not in chosen:
                chosen.append(outcome)
        if violations:
            raise InvalidInput(violations)
        return chosen


def _estimate_message(estimate: Estimate) -> survival_pb2.SurvivalEstimate:
    s = estimate.summary
    entry = estimate.entry
    message = survival_pb2.SurvivalEstimate(
        outcome=_ENUM_OF[estimate.outcome],
        median_reached=s.median_months is not None,
        follow_up_months=s.follow_up_months,
        risk_score=estimate.risk_score,
        survival_probability_12_months=s.at_horizons[12.0],
        survival_probability_36_months=s.at_horizons[36.0],
        survival_probability_60_months=s.at_horizons[60.0],
    )
    if s.median_months is not None:
        message.median_months = s.median_months
    if estimate.regression_months is not None:
        message.regression_months = estimate.regression_months
    message.curve.extend(survival_pb2.SurvivalPoint(months=t, probability=p) for t, p in s.points)
    message.model.name = entry.name
    message.model.version = entry.version
    message.model.sha256 = entry.files["model"].sha256
    message.model.algorithm = entry.algorithm
    message.model.feature_set = entry.feature_set
    return message
