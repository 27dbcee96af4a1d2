"""Which graph patterns keep onnxruntime's blocked NCHWc layout on this CPU.

The CPU provider runs 2-D convolutions fastest in its blocked NCHWc layout; every operator it
cannot run in that layout costs a ``ReorderOutput`` before it and a ``ReorderInput`` after it, each
a full copy of the tensor. The segmenter's exported graph is built from 2-D operators for that
reason (docs/segmenter.md, "The slice-major graph"). This probe builds small graphs of the patterns
a U-Net with squeeze-and-excitation needs, lets onnxruntime optimise them (all optimisations) and
prints the operators of the optimised graph, so a change to the network's export can be checked
against what the runtime will do before anything is timed::

    python bench/onnxruntime_layout.py

It times nothing and needs no model bundle.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from cervixai.onnxrt import ort

CHANNELS = 16
SIZE = 64


def _weight(name: str, shape: tuple[int, ...]) -> onnx.TensorProto:
    values = np.random.default_rng(0).normal(size=shape).astype(np.float32) * 0.1
    return numpy_helper.from_array(values, name)


def _ints(name: str, values: list[int]) -> onnx.TensorProto:
    return numpy_helper.from_array(np.array(values, np.int64), name)


def _conv(source: str, out: str, weight: str) -> onnx.NodeProto:
    return helper.make_node("Conv", [source, weight, weight + "_bias"], [out], pads=[1, 1, 1, 1])


CONVS = [_weight("w1", (CHANNELS, CHANNELS, 3, 3)), _weight("w1_bias", (CHANNELS,)),
         _weight("w2", (CHANNELS, CHANNELS, 3, 3)), _weight("w2_bias", (CHANNELS,))]
SQUEEZE = [_weight("sw", (CHANNELS, CHANNELS, 1, 1)), _weight("sw_bias", (CHANNELS,))]


def patterns() -> dict[str, tuple[list[onnx.NodeProto], list[onnx.TensorProto]]]:
    """Pattern name → (nodes from input ``x`` to output ``y``, initialisers)."""
    relu = [_conv("x", "a", "w1"), helper.make_node("Relu", ["a"], ["r"])]
    return {
        "conv, conv, add (residual)": (
            [_conv("x", "a", "w1"), _conv("x", "b", "w2"),
             helper.make_node("Add", ["a", "b"], ["s"]), _conv("s", "y", "w1")], CONVS),
        "mul of two same-shape tensors": (
            [_conv("x", "a", "w1"), _conv("x", "b", "w2"),
             helper.make_node("Mul", ["a", "b"], ["m"]), _conv("m", "y", "w1")], CONVS),
        "SE gate per slice (2-D SE)": (
            [*relu, helper.make_node("GlobalAveragePool", ["r"], ["p"]), _conv_1x1("p", "q"),
             helper.make_node("Sigmoid", ["q"], ["g"]), helper.make_node("Mul", ["r", "g"], ["m"]),
             _conv("m", "y", "w2")], [*CONVS, *SQUEEZE]),
        "SE gate per volume (mean over 4 slices)": (
            [*relu, helper.make_node("GlobalAveragePool", ["r"], ["p"]),
             helper.make_node("Reshape", ["p", "by_volume"], ["p3"]),
             helper.make_node("ReduceMean", ["p3", "axis1"], ["pm"], keepdims=1),
             helper.make_node("Sigmoid", ["pm"], ["g3"]),
             helper.make_node("Expand", ["g3", "volume_shape"], ["g3e"]),
             helper.make_node("Reshape", ["g3e", "by_slice"], ["g"]),
             helper.make_node("Mul", ["r", "g"], ["m"]), _conv("m", "y", "w2")],
            [*CONVS, _ints("by_volume", [-1, 4, CHANNELS]), _ints("axis1", [1]),
             _ints("volume_shape", [1, 4, CHANNELS]),
             _ints("by_slice", [-1, CHANNELS, 1, 1])]),
        "SE gate resized to full size, then mul": (
            [*relu, helper.make_node("GlobalAveragePool", ["r"], ["p"]), _conv_1x1("p", "q"),
             helper.make_node("Sigmoid", ["q"], ["g"]),
             helper.make_node("Resize", ["g", "", "scales"], ["gf"], mode="nearest"),
             helper.make_node("Mul", ["r", "gf"], ["m"]), _conv("m", "y", "w2")],
            [*CONVS, *SQUEEZE, numpy_helper.from_array(
                np.array([1, 1, SIZE, SIZE], np.float32), "scales")]),
        "slice along the batch (slice) axis": (
            [*relu, helper.make_node("Slice", ["r", "start", "end", "axis0"], ["sl"]),
             _conv("sl", "y", "w2")],
            [*CONVS, _ints("start", [1]), _ints("end", [1 << 30]), _ints("axis0", [0])]),
        "max pool": (
            [*relu, helper.make_node("MaxPool", ["r"], ["mp"], kernel_shape=[2, 2], strides=[2, 2]),
             _conv("mp", "y", "w2")], CONVS),
    }


def _conv_1x1(source: str, out: str) -> onnx.NodeProto:
    return helper.make_node("Conv", [source, "sw", "sw_bias"], [out])


def optimised_operators(nodes: list[onnx.NodeProto], initialisers: list[onnx.TensorProto],
                        folder: Path) -> list[str]:
    """The operator types of the graph after onnxruntime's optimisations, in order."""
    graph = helper.make_graph(
        nodes, "probe",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", CHANNELS, SIZE, SIZE])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], initialisers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.optimized_model_filepath = str(folder / "optimised.onnx")
    options.log_severity_level = 3   # the warning that NCHWc graphs are machine-specific
    ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    return [n.op_type for n in onnx.load(options.optimized_model_filepath).graph.node]


def main() -> int:
    print(f"onnxruntime {ort.__version__}; a pattern keeps the blocked layout when no "
          "ReorderOutput/ReorderInput pair sits inside it")
    with tempfile.TemporaryDirectory() as tmp:
        for name, (nodes, initialisers) in patterns().items():
            operators = optimised_operators(nodes, initialisers, Path(tmp))
            inner = operators[1:-1]   # the first ReorderInput and last ReorderOutput: the ends
            reorders = sum(op.startswith("Reorder") for op in inner)
            print(f"{name:42s} {'keeps it' if reorders == 0 else f'{reorders} reorders':12s} "
                  f"{' → '.join(operators)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
