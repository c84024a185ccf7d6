"""The encoders' attention masks, rewritten from torch's export (a float mask and a NaN fix in
every layer) into one additive mask: the same probabilities, padding still ignored."""

from __future__ import annotations

import json

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

from services.nlp import entities
from training.ner.attention_mask import simplify


def _exported_attention() -> onnx.ModelProto:
    """One attention step as torch exports scaled-dot-product attention with a padding mask."""
    const = lambda name, value: helper.make_node(  # noqa: E731
        "Constant", [], [name], value=numpy_helper.from_array(np.array(value, np.float32)))
    axes = helper.make_node("Constant", [], ["axes"], value=numpy_helper.from_array(np.array([1, 2], np.int64)))
    nodes = [
        axes,
        helper.make_node("Unsqueeze", ["attention_mask", "axes"], ["mask4"]),
        helper.make_node("Cast", ["mask4"], ["keep"], to=TensorProto.BOOL),
        const("zero", 0.0), const("minus_inf", -np.inf), const("nan_zero", 0.0),
        helper.make_node("Where", ["keep", "zero", "minus_inf"], ["float_mask"]),
        helper.make_node("Transpose", ["x"], ["keys"], perm=[0, 1, 3, 2]),
        helper.make_node("MatMul", ["x", "keys"], ["scores"]),
        helper.make_node("Add", ["scores", "float_mask"], ["masked"]),
        helper.make_node("Softmax", ["masked"], ["probs"], axis=-1),
        helper.make_node("IsNaN", ["probs"], ["is_nan"]),
        helper.make_node("Where", ["is_nan", "nan_zero", "probs"], ["probs_fixed"]),
        helper.make_node("MatMul", ["probs_fixed", "x"], ["out"]),
    ]
    graph = helper.make_graph(
        nodes, "attention",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 2, "pieces", 4]),
         helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "pieces"])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, None)])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def _run(model: onnx.ModelProto, feeds: dict) -> np.ndarray:
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feeds)[0]


def test_the_rewritten_mask_gives_the_same_output_and_still_ignores_padding():
    rng = np.random.default_rng(0)
    mask = np.array([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0], [1, 0, 0, 0, 0]], np.int64)
    feeds = {"x": rng.normal(size=(3, 2, 5, 4)).astype(np.float32), "attention_mask": mask}
    exported = _exported_attention()
    before = _run(exported, feeds)
    model = onnx.ModelProto()
    model.CopyFrom(exported)
    assert simplify(model) == 1
    ops = [n.op_type for n in model.graph.node]
    assert "IsNaN" not in ops and "Where" not in ops
    after = _run(model, feeds)
    assert np.array_equal(after, before)
    # what sits at padded positions does not reach the real ones
    noisy = dict(feeds, x=np.where(mask[:, None, :, None] == 1, feeds["x"], 1e3).astype(np.float32))
    real = mask[:, None, :].repeat(2, 1).astype(bool)
    assert np.allclose(_run(model, noisy)[real], after[real], atol=1e-5)
    assert simplify(model) == 0  # nothing left to rewrite


def test_every_shipped_encoder_model_carries_the_rewritten_mask():
    encoders = [d for d in sorted(entities.MODELS_DIR.iterdir())
                if (d / "model.onnx").is_file()
                and json.loads((d / "meta.json").read_text(encoding="utf-8")).get("backend") == "onnx-encoder"]
    assert len(encoders) >= 5
    for d in encoders:
        ops = [n.op_type for n in onnx.load(str(d / "model.onnx")).graph.node]
        assert "IsNaN" not in ops, f"{d.name}: re-run python -m training.ner.attention_mask on its model.onnx"
        assert ops.count("Softmax") >= 6
