"""The Survival gRPC servicer: request → validated arrays → model → SurvivalResponse."""

from __future__ import annotations

from collections.abc import Mapping

from cervix.v1 import survival_pb2, survival_pb2_grpc
from cervixai.clinical import Stage
from cervixai.clinical.proto import record_from_proto
from cervixai.errors import FieldViolation, InvalidInput
from cervixai.features import ImageFeatureValues, from_proto
from cervixai.served import ServedFacts
from cervixai.survival.curves import horizons_beyond
from services.survival.metrics import ESTIMATES
from services.survival.model import Estimate, SurvivalModel

_OUTCOME_OF = {survival_pb2.SURVIVAL_OUTCOME_RFS: "rfs", survival_pb2.SURVIVAL_OUTCOME_OS: "os"}
_ENUM_OF = {v: k for k, v in _OUTCOME_OF.items()}


class SurvivalServicer(survival_pb2_grpc.SurvivalServicer):
    """Decode outcomes, record and image features; estimate each outcome; encode the reply."""

    def __init__(self, model: SurvivalModel) -> None:
        self.model = model
        self.facts = ServedFacts("survival")

    def Predict(self, request: survival_pb2.SurvivalRequest, context: object
                ) -> survival_pb2.SurvivalResponse:
        outcomes = self._outcomes(request)
        record, image, warnings = self._inputs(request, outcomes)
        response = survival_pb2.SurvivalResponse()
        for outcome in outcomes:
            estimate = self.model.predict(outcome, record, image)
            message = _estimate_message(estimate)
            figures = self.facts.survival_performance(estimate.entry)
            if figures is not None:
                message.performance.CopyFrom(figures)
            response.estimates.append(message)
            warnings += self._warnings(estimate, image)
            ESTIMATES.labels(outcome, str(estimate.summary.median_months is not None).lower()
                             ).inc()
        response.warnings.extend(warnings)
        return response

    def _inputs(self, request: survival_pb2.SurvivalRequest, outcomes: list[str]
                ) -> tuple[Mapping[str, object], ImageFeatureValues | None, list[str]]:
        """The validated record and image features; every problem of both at once."""
        violations: list[FieldViolation] = []
        record: Mapping[str, object] = {}
        try:
            record = record_from_proto(request.clinical, Stage.POSTOPERATIVE)
        except InvalidInput as e:
            violations += e.violations
        reading = self.model.reading_image(outcomes)
        image: ImageFeatureValues | None = None
        warnings: list[str] = []
        if reading and not request.HasField("image_features"):
            violations.append(FieldViolation(
                "image_features", f"required: the {', '.join(sorted(reading))} model "
                f"uses the {self.model.outcomes[min(reading)].feature_set!r} features"))
        elif reading:
            try:
                image = from_proto(request.image_features)
            except InvalidInput as e:
                violations += e.violations
        elif request.HasField("image_features"):
            warnings.append("image_features were ignored: the survival models use clinical "
                            "variables only")
        if violations:
            raise InvalidInput(violations)
        return record, image, warnings

    def _warnings(self, estimate: Estimate, image: ImageFeatureValues | None) -> list[str]:
        """Image features outside the training range; survival read beyond the follow-up."""
        warnings = []
        if image is not None and self.model.outcomes[estimate.outcome].reads_image:
            outside = self.facts.range_warning(estimate.outcome, estimate.entry, image.radiomics)
            if outside:
                warnings.append(outside)
        late = horizons_beyond(estimate.summary.follow_up_months)
        if late:
            warnings.append(
                f"{estimate.outcome}: survival at {', '.join(f'{h:g}' for h in late)} months is "
                f"the curve's value at the end of the training follow-up "
                f"({estimate.summary.follow_up_months:.1f} months): an extrapolation")
        return warnings

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
    message.model.CopyFrom(entry.to_proto())
    return message
