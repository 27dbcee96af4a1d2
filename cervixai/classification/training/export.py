"""ONNX export of a fitted classification pipeline, with the converters skl2onnx lacks.

* :class:`WeightedKNeighborsClassifier` gets its own converter: squared distances as
  ‖x‖² − 2 x·T + ‖t‖² with one MatMul against the stored training matrix (the stock KNN converter
  is slower than scikit-learn on 65k features and gets ``weights='distance'`` wrong), TopK, and
  class-weighted votes gathered from a (training rows × classes) table.
* ``BalancedRandomForestClassifier`` is registered with the random forest's shape calculator,
  converter and option set (``zipmap``, ``nocl``, ``raw_scores``, ``decision_path``, ...).
* The calibration (Platt: sigmoid(a·p + b) of the model's positive-class probability) is appended
  to the graph, which then has one input ``features`` (float32, see
  :mod:`cervixai.classification.inputs`) and one output ``probabilities`` (float32, (n, 2)).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import numpy.typing as npt
import onnx
from onnx import TensorProto, helper, numpy_helper
from skl2onnx import to_onnx, update_registered_converter
from skl2onnx.common.data_types import FloatTensorType
from skl2onnx.common.shape_calculator import calculate_linear_classifier_output_shapes
from skl2onnx.operator_converters.random_forest import convert_sklearn_random_forest_classifier
from skl2onnx.shape_calculators.ensemble_shapes import calculate_tree_classifier_output_shapes
from sklearn.pipeline import Pipeline

from cervixai.classification.training.estimators import (
    DIRECT_WIDTH,
    DISTANCE_EPSILON,
    WeightedKNeighborsClassifier,
)

OPSET = 18
INPUT_NAME = "features"
OUTPUT_NAME = "probabilities"
PARITY_TOLERANCE = 1e-5


def _convert_weighted_knn(scope: Any, operator: Any, container: Any) -> None:
    model: WeightedKNeighborsClassifier = operator.raw_operator
    x = operator.inputs[0].full_name
    label_out, proba_out = operator.outputs[0].full_name, operator.outputs[1].full_name
    train = model.fit_X_.astype(np.float32)
    n_classes = len(model.classes_)

    def name(hint: str) -> str:
        return str(scope.get_unique_variable_name(hint))

    def const(hint: str, value: npt.NDArray[Any]) -> str:
        n = name(hint)
        container.add_initializer(n, None, None, numpy_helper.from_array(value, n))
        return n

    def node(op: str, inputs: list[str], hint: str, **attrs: Any) -> str:
        out = name(hint)
        container.add_node(op, inputs, [out], name=name(op), **attrs)
        return out

    if train.shape[1] <= DIRECT_WIDTH:
        # (N, 1, D) − (1, M, D), squared and summed: exact for one-hot differences
        x3 = node("Unsqueeze", [x, const("axis1", np.array([1], np.int64))], "x3")
        diff = node("Sub", [x3, const("train3", train[None])], "diff")
        d2 = node("ReduceSum", [node("Mul", [diff, diff], "sq"),
                                const("axis2", np.array([2], np.int64))], "d2", keepdims=0)
    else:
        train_t = const("train_t", np.ascontiguousarray(train.T))              # (D, M)
        train_sq = const("train_sq", (train.astype(np.float64) ** 2).sum(axis=1)
                         .astype(np.float32)[None, :])                           # (1, M)
        ones = const("ones", np.ones((train.shape[1], 1), np.float32))          # (D, 1)
        minus_two = const("minus_two", np.array([-2.0], np.float32))
        zero = const("zero", np.array([0.0], np.float32))
        x_sq = node("MatMul", [node("Mul", [x, x], "x2"), ones], "x_sq")        # (N, 1)
        cross = node("Mul", [node("MatMul", [x, train_t], "xt"), minus_two], "cross")
        d2 = node("Max", [node("Add", [node("Add", [cross, x_sq], "d2a"), train_sq], "d2b"),
                          zero], "d2")
    k = const("k", np.array([model.n_neighbors_], np.int64))
    nearest_d2, nearest = name("nearest_d2"), name("nearest")
    container.add_node("TopK", [d2, k], [nearest_d2, nearest], name=name("TopK"),
                       largest=0, sorted=1, axis=1)
    table = np.zeros((len(model.fit_codes_), n_classes), np.float32)
    table[np.arange(len(model.fit_codes_)), model.fit_codes_] = \
        model.class_weight_[model.fit_codes_]
    votes = node("Gather", [const("votes_table", table), nearest], "votes", axis=0)  # (N, k, C)
    if model.weights == "distance":
        distance = node("Add", [node("Sqrt", [nearest_d2], "dist"),
                                const("eps", np.array([DISTANCE_EPSILON], np.float32))], "dist_e")
        inverse = node("Reciprocal", [distance], "inv")
        axes2 = const("axes2", np.array([2], np.int64))
        votes = node("Mul", [votes, node("Unsqueeze", [inverse, axes2], "inv3")], "wvotes")
    axes1 = const("axes1", np.array([1], np.int64))
    totals = node("ReduceSum", [votes, axes1], "totals", keepdims=0)             # (N, C)
    norm = node("ReduceSum", [totals, axes1], "norm", keepdims=1)
    container.add_node("Div", [totals, norm], [proba_out], name=name("Div"))
    arg = node("ArgMax", [proba_out], "arg", axis=1, keepdims=0)
    classes = const("classes", model.classes_.astype(np.int64))
    container.add_node("Gather", [classes, arg], [label_out], name=name("Gather"), axis=0)


def _register() -> None:
    from imblearn.ensemble import BalancedRandomForestClassifier

    update_registered_converter(
        WeightedKNeighborsClassifier, "CervixaiWeightedKNeighborsClassifier",
        calculate_linear_classifier_output_shapes, _convert_weighted_knn,
        options={"zipmap": [True, False, "columns"], "nocl": [True, False]})
    update_registered_converter(
        BalancedRandomForestClassifier, "ImblearnBalancedRandomForestClassifier",
        calculate_tree_classifier_output_shapes, convert_sklearn_random_forest_classifier,
        options={"zipmap": [True, False, "columns"], "nocl": [True, False],
                 "output_class_labels": [False, True], "raw_scores": [True, False],
                 "decision_path": [True, False], "decision_leaf": [True, False]})


_register()


def to_onnx_model(pipeline: Pipeline, width: int, calibration: tuple[float, float],
                  name: str) -> onnx.ModelProto:
    """The fitted ``pipeline`` (preprocessing + model) plus the Platt calibration as one graph."""
    model = pipeline.steps[-1][1]
    options = {id(model): {"zipmap": False}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=FutureWarning)  # SVC probA_/probB_ in 1.9
        raw = to_onnx(pipeline, initial_types=[(INPUT_NAME, FloatTensorType([None, width]))],
                      options=options, target_opset={"": OPSET, "ai.onnx.ml": 3})
    graph = raw.graph
    proba = "raw_probabilities"
    original = next(o.name for o in graph.output if o.name != "label")
    for n in graph.node:
        n.input[:] = [proba if i == original else i for i in n.input]
        n.output[:] = [proba if o == original else o for o in n.output]
    a, b = calibration
    graph.initializer.extend([
        numpy_helper.from_array(np.array([1], np.int64), "cal_column"),
        numpy_helper.from_array(np.array([a], np.float32), "cal_slope"),
        numpy_helper.from_array(np.array([b], np.float32), "cal_intercept"),
        numpy_helper.from_array(np.array([1.0], np.float32), "cal_one"),
    ])
    graph.node.extend([
        helper.make_node("Gather", [proba, "cal_column"], ["cal_p"], axis=1, name="cal_gather"),
        helper.make_node("Mul", ["cal_p", "cal_slope"], ["cal_ap"], name="cal_mul"),
        helper.make_node("Add", ["cal_ap", "cal_intercept"], ["cal_z"], name="cal_add"),
        helper.make_node("Sigmoid", ["cal_z"], ["cal_q"], name="cal_sigmoid"),
        helper.make_node("Sub", ["cal_one", "cal_q"], ["cal_not_q"], name="cal_sub"),
        helper.make_node("Concat", ["cal_not_q", "cal_q"], [OUTPUT_NAME], axis=1,
                         name="cal_concat"),
    ])
    del graph.output[:]
    graph.output.append(helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT,
                                                      [None, 2]))
    graph.name = name
    onnx.checker.check_model(raw)
    graph_model: onnx.ModelProto = raw
    return graph_model


def onnx_probabilities(model_bytes: bytes, features: npt.NDArray[np.float32]
                       ) -> npt.NDArray[np.float32]:
    """P(event) from an exported graph in onnxruntime."""
    from cervixai.onnxrt import ort

    session = ort.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])
    out = session.run([OUTPUT_NAME], {INPUT_NAME: features.astype(np.float32)})[0]
    return np.asarray(out[:, 1], dtype=np.float32)


def check_parity(model_bytes: bytes, expected: npt.NDArray[np.float64],
                 features: npt.NDArray[np.float32]) -> float:
    """max |Δp| between the graph and scikit-learn (+ calibration); ValueError above 1e-5."""
    got = onnx_probabilities(model_bytes, features)
    delta = float(np.max(np.abs(got.astype(np.float64) - expected))) if len(expected) else 0.0
    if not delta <= PARITY_TOLERANCE:
        raise ValueError(f"ONNX and scikit-learn disagree: max |Δp| = {delta:.3g} > "
                         f"{PARITY_TOLERANCE:g}")
    return delta
