"""Export of a fitted :class:`RidgeCox` to ONNX plus its baseline survival table.

The graph computes the risk score from the unscaled inputs of :mod:`cervixai.survival.inputs`:

    clinical ─IsNaN/Where (impute median)─Sub(min)─Mul(1/(max−min))─Clip(0, 1)─┐
    image ───────────────────────────────────────────────────────────────────── Concat
      ─Sub(mean)─Mul(1/scale)─MatMul(β)─Squeeze─▶ risk_score (n,)

which is the ClinicalEncoder, the standardisation and the Cox linear predictor in one graph. The
survival curve is S0(t) ** exp(risk) with S0 from the JSON table (:mod:`cervixai.survival.curves`).
Nothing is pickled.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import onnx
from onnx import TensorProto, helper, numpy_helper

from cervixai.clinical import ClinicalEncoder
from cervixai.clinical.encode import ColumnKind
from cervixai.survival.curves import BaselineSurvival
from cervixai.survival.inputs import (
    CLINICAL_INPUT,
    IMAGE_INPUT,
    REGRESSION_OUTPUT,
    RISK_OUTPUT,
    Feeds,
)
from cervixai.survival.training.estimators import ObservedTimeRegressor, RidgeCox

OPSET = 17
F32 = npt.NDArray[np.float32]


@dataclass(frozen=True)
class ExportedCox:
    onnx_bytes: bytes
    baseline: BaselineSurvival


@dataclass(frozen=True)
class _Preprocessing:
    """The graph part shared by every exported model: unscaled inputs → the design matrix."""

    nodes: list[onnx.NodeProto]
    inputs: list[onnx.ValueInfoProto]
    constants: dict[str, npt.NDArray[np.generic]]
    output: str


def _preprocessing(encoder: ClinicalEncoder, n_image: int) -> _Preprocessing:
    columns = encoder.plan_.columns
    n_clinical = len(columns)
    # float64 arithmetic in the same order as ClinicalEncoder ((x − min) / (max − min), clipped,
    # then float32), so the design matrix is bit-identical and tree thresholds cannot flip.
    fill = np.zeros(n_clinical, np.float64)
    low = np.zeros(n_clinical, np.float64)
    span = np.ones(n_clinical, np.float64)
    keep = np.ones(n_clinical, np.float64)
    for j, c in enumerate(columns):
        if c.kind is ColumnKind.MINMAX:
            lo, hi = encoder.minimum_[c.variable], encoder.maximum_[c.variable]
            fill[j], low[j] = encoder.median_[c.variable], lo
            if hi == lo:
                keep[j] = 0.0            # the encoder gives 0 for a constant column
            else:
                span[j] = hi - lo
    constants: dict[str, npt.NDArray[np.generic]] = {
        "fill": fill, "low": low, "span": span, "keep": keep,
        "zero": np.array(0.0, np.float64), "one": np.array(1.0, np.float64)}
    nodes = [
        helper.make_node("IsNaN", [CLINICAL_INPUT], ["missing"]),
        helper.make_node("Where", ["missing", "fill", CLINICAL_INPUT], ["imputed"]),
        helper.make_node("Sub", ["imputed", "low"], ["shifted"]),
        helper.make_node("Div", ["shifted", "span"], ["divided"]),
        helper.make_node("Mul", ["divided", "keep"], ["scaled"]),
        helper.make_node("Clip", ["scaled", "zero", "one"], ["clipped"]),
        helper.make_node("Cast", ["clipped"], ["encoded"], to=TensorProto.FLOAT),
    ]
    inputs = [helper.make_tensor_value_info(CLINICAL_INPUT, TensorProto.DOUBLE,
                                            ["n", n_clinical])]
    output = "encoded"
    if n_image:
        inputs.append(helper.make_tensor_value_info(IMAGE_INPUT, TensorProto.FLOAT,
                                                    ["n", n_image]))
        nodes.append(helper.make_node("Concat", ["encoded", IMAGE_INPUT], ["design"], axis=1))
        output = "design"
    return _Preprocessing(nodes, inputs, constants, output)


def _check_width(n_features: int, encoder: ClinicalEncoder, n_image: int) -> None:
    n_clinical = len(encoder.plan_.columns)
    if n_features != n_clinical + n_image:
        raise ValueError(f"model has {n_features} inputs, expected {n_clinical} clinical + "
                         f"{n_image} image")


def export_cox(model: RidgeCox, encoder: ClinicalEncoder, n_image: int, *,
               follow_up_months: float, name: str = "survival") -> ExportedCox:
    """The ONNX graph and baseline table of ``model`` fitted on ``encoder`` columns followed by
    ``n_image`` image columns."""
    _check_width(model.n_features_in_, encoder, n_image)
    prep = _preprocessing(encoder, n_image)
    constants = {
        **prep.constants,
        "mean": model.mean_.astype(np.float32),
        "inv_scale": (1.0 / model.scale_).astype(np.float32),
        "coef": model.coef_.astype(np.float32).reshape(-1, 1),
        "squeeze_axes": np.array([1], np.int64),
    }
    nodes = [
        *prep.nodes,
        helper.make_node("Sub", [prep.output, "mean"], ["centred"]),
        helper.make_node("Mul", ["centred", "inv_scale"], ["standardised"]),
        helper.make_node("MatMul", ["standardised", "coef"], ["risk_column"]),
        helper.make_node("Squeeze", ["risk_column", "squeeze_axes"], [RISK_OUTPUT]),
    ]
    graph = helper.make_graph(
        nodes, name, prep.inputs,
        [helper.make_tensor_value_info(RISK_OUTPUT, TensorProto.FLOAT, ["n"])],
        [numpy_helper.from_array(v, k) for k, v in constants.items()])
    onnx_model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                                   producer_name="cervixai.survival")
    onnx_model.doc_string = ("Ridge Cox risk score (log relative hazard); survival = "
                             "baseline_survival ** exp(risk_score)")
    onnx.checker.check_model(onnx_model, full_check=True)
    times, survival = model.baseline_survival()
    return ExportedCox(onnx_model.SerializeToString(),
                       baseline_table(times, survival, follow_up_months))


# Regressors whose scikit-learn → ONNX conversion is exact (distance-weighted KNN is not: see
# /work/shared/MEASURED.md; it would need its own converter).
CONVERTIBLE_REGRESSORS = ("random_forest", "regression_tree", "svr")


def export_regressor(model: ObservedTimeRegressor, encoder: ClinicalEncoder, n_image: int, *,
                     name: str = "survival_regression") -> bytes:
    """The study's time regressor as one graph: unscaled inputs → ``REGRESSION_OUTPUT`` (n,)
    months. The scikit-learn part is converted with skl2onnx and joined to the preprocessing."""
    from skl2onnx import convert_sklearn  # type: ignore[import-untyped, unused-ignore]
    from skl2onnx.common.data_types import (  # type: ignore[import-untyped, unused-ignore]
        FloatTensorType,
    )

    _check_width(model.n_features_in_, encoder, n_image)
    width = int(model.n_features_in_)
    converted = convert_sklearn(model.regressor_, initial_types=[
        ("regressor_input", FloatTensorType([None, width]))],
        target_opset={"": OPSET, "ai.onnx.ml": 3})
    prep = _preprocessing(encoder, n_image)
    sk_graph = converted.graph
    (sk_output,) = [o.name for o in sk_graph.output]
    nodes = [*prep.nodes,
             helper.make_node("Identity", [prep.output], ["regressor_input"]),
             *sk_graph.node,
             helper.make_node("Reshape", [sk_output, "flat"], [REGRESSION_OUTPUT])]
    constants = {**prep.constants, "flat": np.array([-1], np.int64)}
    graph = helper.make_graph(
        nodes, name, prep.inputs,
        [helper.make_tensor_value_info(REGRESSION_OUTPUT, TensorProto.FLOAT, ["n"])],
        [*(numpy_helper.from_array(v, k) for k, v in constants.items()),
         *sk_graph.initializer])
    opsets = {o.domain: o.version for o in converted.opset_import}
    opsets[""] = max(opsets.get("", OPSET), OPSET)
    onnx_model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid(d, v) for d, v in opsets.items()],
        producer_name="cervixai.survival")
    onnx_model.doc_string = "The study's regression of observed months (censoring ignored)"
    onnx.checker.check_model(onnx_model, full_check=True)
    return bytes(onnx_model.SerializeToString())


def onnx_months(onnx_bytes: bytes, feeds: Feeds) -> npt.NDArray[np.float32]:
    """Run an exported regressor (onnxruntime, CPU)."""
    from cervixai.onnxrt import ort

    session = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
    names = {i.name for i in session.get_inputs()}
    (months,) = session.run([REGRESSION_OUTPUT], {k: v for k, v in feeds.items() if k in names})
    return np.asarray(months, dtype=np.float32)


def baseline_table(times: npt.NDArray[np.float64], survival: npt.NDArray[np.float64],
                   follow_up_months: float) -> BaselineSurvival:
    """The steps of S0 only (times where it drops): the same step function, fewer points."""
    previous = np.concatenate([[1.0], survival[:-1]])
    keep = survival < previous
    if not keep.any():
        raise ValueError("the baseline survival never drops: no event in the training data")
    return BaselineSurvival(times[keep].astype(np.float64), survival[keep].astype(np.float64),
                            float(follow_up_months))


def onnx_risk(onnx_bytes: bytes, feeds: Feeds) -> npt.NDArray[np.float32]:
    """Run the exported graph (onnxruntime, CPU)."""
    from cervixai.onnxrt import ort

    session = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
    names = {i.name for i in session.get_inputs()}
    (risk,) = session.run([RISK_OUTPUT], {k: v for k, v in feeds.items() if k in names})
    return np.asarray(risk, dtype=np.float32)
