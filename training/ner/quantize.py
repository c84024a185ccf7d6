"""Quantize a trained run's float ONNX model to the int8 ``model.onnx`` the service runs.

    .venv/bin/python -m training.ner.quantize --model ar_e5_l8_kd_smooth [--tag T | --run DIR]

re-quantizes the run in training/ner/.work/<model>/run[-T] (or DIR, e.g. a run of the spec
the model is a variant of) by the spec's ``encoder.smooth_quant``: its ``model.onnx`` is
written again from its ``model.float.onnx``, its meta.json updated, and the int8 model's
training-dev F1 printed. ``encoder.py`` quantizes the same way when it exports.

Int8 here is ONNX Runtime's dynamic quantization: weights per output channel, each
MatMul's input per tensor, scaled by its largest absolute value at run time. The input of
each layer's feed-forward output MatMul (the GELU of a 1,536-wide layer) has a few
channels 20 to 40 times larger than the rest (Arabic 8-layer student: max 69, median 1.9),
so per-tensor scaling leaves the other channels a handful of int8 steps. On that student,
int8 cost 1.6 points of F1 end to end, and keeping only those 8 MatMuls in float won all of
it back (at a third more CPU per word). ``smooth_quant`` (alpha, 0..1) instead moves that range from
the activations into the weights, as SmoothQuant does (Xiao et al., ICML 2023): channel j
of the input is divided by s_j = max|X_j|^alpha / max|W_j|^(1 - alpha), measured on the
training windows, and row j of the weights multiplied by it. The float model computes the
same function (one Mul per layer more); int8 then loses less, at the same speed.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from .attention_mask import rewrite as rewrite_attention_masks

PLAIN = "int8 per channel (dynamic)"


def smoothing_scales(act_max: np.ndarray, w: np.ndarray, alpha: float) -> np.ndarray:
    """s_j for the input channels j of ``x @ w`` (``w``: [in, out]); ``x / s @ (w * s[:, None])``
    equals ``x @ w``."""
    wmax = np.abs(w).max(axis=1)
    return (np.clip(act_max, 1e-5, None) ** alpha / np.clip(wmax, 1e-5, None) ** (1 - alpha)).astype(np.float32)


def feeds_from_items(items, limit: int = 400):
    """ONNX inputs, one window at a time, from encoded windows ``(ids, cases, ...)``."""
    for ids, cases, *_ in items[:limit]:
        yield {"input_ids": np.array([ids], dtype=np.int64), "case_ids": np.array([cases], dtype=np.int64),
               "attention_mask": np.ones((1, len(ids)), dtype=np.int64)}


def _ffn_out_matmuls(model) -> list:
    return [n for n in model.graph.node
            if n.op_type == "MatMul" and "/output/dense/" in n.name and "/attention/" not in n.name]


def smooth(float_path: Path, out_path: Path, feeds, alpha: float) -> int:
    """Writes ``float_path``'s model to ``out_path`` with the feed-forward output MatMuls'
    inputs smoothed; returns how many were."""
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.load(str(float_path))
    nodes = _ffn_out_matmuls(model)
    if not nodes:
        raise SystemExit(f"{float_path}: no feed-forward output MatMul found to smooth")
    acts = [n.input[0] for n in nodes]
    inits = {i.name: i for i in model.graph.initializer}
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    probe.graph.output.extend(helper.make_tensor_value_info(a, TensorProto.FLOAT, None) for a in acts)
    session = ort.InferenceSession(probe.SerializeToString(), providers=["CPUExecutionProvider"])
    act_max = [np.zeros(numpy_helper.to_array(inits[n.input[1]]).shape[0], np.float32) for n in nodes]
    for feed in feeds:
        for m, o in zip(act_max, session.run(acts, feed)):
            np.maximum(m, np.abs(o).reshape(-1, o.shape[-1]).max(0), out=m)
    for node, act, amax in zip(nodes, acts, act_max):
        w = numpy_helper.to_array(inits[node.input[1]])
        s = smoothing_scales(amax, w, alpha)
        inits[node.input[1]].CopyFrom(numpy_helper.from_array((w * s[:, None]).astype(np.float32), node.input[1]))
        model.graph.initializer.append(numpy_helper.from_array(1.0 / s, node.name + "/smooth"))
        node.input[0] = act + "/smoothed"
        at = list(model.graph.node).index(node)
        model.graph.node.insert(at, helper.make_node("Mul", [act, node.name + "/smooth"], [node.input[0]], name=node.name + "/smooth_mul"))
    onnx.save(model, str(out_path))
    return len(nodes)


def quantize(run: Path, alpha: float | None = None, feeds=None) -> str:
    """``run``/model.float.onnx -> ``run``/model.onnx (int8); smoothed first when ``alpha`` is
    given (``feeds``: calibration inputs). Returns the description meta.json records."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    src = run / "model.float.onnx"
    # every export comes through here, and so does a run exported before attention_mask.py:
    # the float model, the teacher of later students, gets the faster graph (same output)
    rewrite_attention_masks(src)
    with tempfile.TemporaryDirectory() as tmp:
        if alpha is not None:
            n = smooth(src, Path(tmp) / "smoothed.onnx", feeds, alpha)
            print(f"smoothed the inputs of {n} feed-forward output MatMuls (alpha {alpha})", flush=True)
            src = Path(tmp) / "smoothed.onnx"
        quantize_dynamic(str(src), str(run / "model.onnx"), weight_type=QuantType.QInt8, per_channel=True)
    return PLAIN + (f", feed-forward output inputs smoothed (alpha {alpha})" if alpha is not None else "")


def main() -> None:
    from .common import WORK, load_specs
    from .encoder import requantize

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True, help="model key in training/ner/models.json")
    ap.add_argument("--tag", default="", help="the run's tag (run-TAG)")
    ap.add_argument("--run", type=Path, help="the run's directory, if not the model's own")
    args = ap.parse_args()
    if args.model not in load_specs():
        raise SystemExit(f"no model {args.model!r} in training/ner/models.json")
    run = args.run or WORK / args.model / (f"run-{args.tag}" if args.tag else "run")
    if not (run / "model.float.onnx").is_file() or not (run / "meta.json").is_file():
        raise SystemExit(f"{run} holds no trained run (model.float.onnx, meta.json): train it first")
    requantize(args.model, run)  # prints the int8 model's training-dev F1


if __name__ == "__main__":
    main()
