"""The encoders' int8 weights as unsigned on a CPU whose U8S8 kernel saturates
(services/nlp/int8_weights.py): same values, exact products, the right CPUs chosen."""

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from services.nlp import int8_weights
from services.nlp.encoder_ner import EncoderTagger
from services.nlp.entities import MODELS_DIR


def _matmul_integer(weights: np.ndarray, zero_point: np.ndarray) -> onnx.ModelProto:
    """A: uint8 [M, K] input times B: an int8 [K, N] initializer, as the quantized encoders multiply."""
    k, n = weights.shape
    node = helper.make_node("MatMulInteger", ["A", "B", "a_zero", "B_zero"], ["Y"])
    graph = helper.make_graph(
        [node], "g",
        [helper.make_tensor_value_info("A", TensorProto.UINT8, ["m", k])],
        [helper.make_tensor_value_info("Y", TensorProto.INT32, ["m", n])],
        [numpy_helper.from_array(weights, "B"), numpy_helper.from_array(zero_point, "B_zero"),
         numpy_helper.from_array(np.array(0, np.uint8), "a_zero")])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def _run(model: onnx.ModelProto, a: np.ndarray) -> np.ndarray:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    return ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"]).run(None, {"A": a})[0]


@pytest.mark.parametrize("machine,flags,expected", [
    ("x86_64", {"sse2", "avx2", "fma"}, True),  # AVX2 without VNNI: vpmaddubsw saturates
    ("x86_64", {"avx2", "avx512f", "avx512bw"}, True),  # AVX-512 without VNNI
    ("x86_64", {"avx2", "avx512f", "avx512_vnni"}, False),
    ("x86_64", {"avx2", "avx_vnni"}, False),
    ("x86_64", {"avx2", "amx_int8", "amx_tile"}, False),
    ("AMD64", {"avx2"}, True),
    ("aarch64", {"asimd", "asimddp"}, False),  # ARM's kernels widen before they add
])
def test_saturating_cpus_are_told_from_exact_ones(machine, flags, expected):
    assert int8_weights.saturates(machine, flags) is expected


def test_unknown_flags_keep_the_signed_weights(monkeypatch):
    monkeypatch.setattr(int8_weights, "cpu_flags", lambda: None)  # no /proc/cpuinfo (not Linux)
    assert int8_weights.saturates("x86_64") is False
    assert int8_weights.choice("auto") == "signed"


def test_setting_forces_either_weights_and_rejects_other_values():
    assert int8_weights.choice("signed") == "signed"
    assert int8_weights.choice(" Unsigned ") == "unsigned"
    assert int8_weights.choice("auto") == ("unsigned" if int8_weights.saturates() else "signed")
    with pytest.raises(ValueError, match="auto, signed or unsigned"):
        int8_weights.choice("u8")


def test_unsigned_weights_hold_the_same_values():
    rng = np.random.default_rng(0)
    weights = rng.integers(-128, 128, (64, 8), dtype=np.int8)
    zero = rng.integers(-3, 4, 8, dtype=np.int8)
    model = _matmul_integer(weights, zero)
    assert int8_weights.unsigned(model) == 2
    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    assert inits["B"].dtype == np.uint8 and inits["B_zero"].dtype == np.uint8
    assert np.array_equal(inits["B"].astype(np.int32) - inits["B_zero"], weights.astype(np.int32) - zero)
    assert int8_weights.unsigned(model) == 0  # nothing signed is left


def test_unsigned_weights_multiply_exactly_where_signed_ones_saturate_on_this_cpu():
    # the largest products: 255 x 127, 64 of them a row; in 16-bit pairs they would saturate
    a = np.full((3, 64), 255, np.uint8)
    weights = np.full((64, 4), 127, np.int8)
    exact = a.astype(np.int64) @ weights.astype(np.int64)
    model = _matmul_integer(weights, np.zeros(4, np.int8))
    signed = _run(model, a)
    int8_weights.unsigned(model)
    assert np.array_equal(_run(model, a), exact)
    # and the CPU check agrees with what this CPU's signed kernel does
    assert (not np.array_equal(signed, exact)) is int8_weights.saturates()


def test_the_arabic_model_labels_a_sentence_the_same_with_either_weights(monkeypatch):
    text = "وقال وزير الخارجية الأمريكي مايك بومبيو في بغداد إن الولايات المتحدة لن تنسحب من العراق."
    found = {}
    for setting in ("signed", "unsigned"):
        monkeypatch.setenv("DOCENRICH_INT8_WEIGHTS", setting)
        tagger = EncoderTagger(MODELS_DIR / "docenrich_ner_ar")
        assert tagger.int8_weights == setting
        found[setting] = [(text[s:e], label) for s, e, label, _ in tagger.run([text])[0]]
    assert ("مايك بومبيو", "PER") in found["unsigned"] and ("بغداد", "LOC") in found["unsigned"], found
    if not int8_weights.saturates():
        assert found["signed"] == found["unsigned"]


def test_the_unsigned_copy_is_a_temporary_file_removed_once_loaded(tmp_path):
    model = _matmul_integer(np.full((4, 2), -7, np.int8), np.zeros(2, np.int8))
    src = tmp_path / "model.onnx"
    onnx.save(model, str(src))
    with int8_weights.model_file(src, "unsigned") as (path, weights):
        assert weights == "unsigned" and path != str(src)
        loaded = onnx.load(path)
        assert numpy_helper.to_array(loaded.graph.initializer[0]).dtype == np.uint8
        assert np.array_equal(_run(loaded, np.full((1, 4), 3, np.uint8)), np.full((1, 2), -84))
    assert not Path(path).exists()
    assert onnx.load(str(src)).graph.initializer[0].data_type == TensorProto.INT8  # the shipped file is untouched
    with int8_weights.model_file(src, "signed") as (path, weights):
        assert (path, weights) == (str(src), "signed")


class _Tensor:
    """What training hands the predictor: something with ``.numpy()`` (a torch tensor there)."""

    def __init__(self, a):
        self.a = a

    def numpy(self):
        return self.a


def test_training_scores_int8_models_with_the_services_weights(tmp_path, monkeypatch):
    # training/ner/encoder.py scores its int8 exports (and reads int8 teachers) on this CPU: it must
    # multiply as the service does, not with the saturating signed kernel
    from training.ner.encoder import _onnx_predict

    weights = np.full((64, 4), 127, np.int8)
    nodes = [helper.make_node("Cast", ["input_ids"], ["A"], to=TensorProto.UINT8),
             helper.make_node("MatMulInteger", ["A", "B", "a_zero", "B_zero"], ["Y"]),
             helper.make_node("Cast", ["Y"], ["probs"], to=TensorProto.FLOAT)]
    graph = helper.make_graph(
        nodes, "g",
        [helper.make_tensor_value_info(n, TensorProto.INT64, ["b", 64]) for n in ("input_ids", "case_ids", "attention_mask")],
        [helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["b", 4])],
        [numpy_helper.from_array(weights, "B"), numpy_helper.from_array(np.zeros(4, np.int8), "B_zero"),
         numpy_helper.from_array(np.array(0, np.uint8), "a_zero")])
    path = tmp_path / "model.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8), str(path))
    ids = np.full((2, 64), 255, np.int64)
    exact = np.full((2, 4), 255 * 127 * 64, np.float32)
    monkeypatch.delenv("DOCENRICH_INT8_WEIGHTS", raising=False)  # auto: unsigned where the kernel saturates
    out = _onnx_predict(path, threads=1)(_Tensor(ids), _Tensor(ids), _Tensor(np.ones_like(ids)))
    assert np.array_equal(out, exact)
