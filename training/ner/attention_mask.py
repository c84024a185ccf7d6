"""Rewrite an exported encoder's attention mask as one additive mask, shared by every layer.

    .venv/bin/python -m training.ner.attention_mask services/nlp/models/ner/*/model.onnx

torch's ONNX export of scaled-dot-product attention (what transformers' BERT uses by
default) turns the padding mask into a float mask in every layer, ``Where(mask, 0, -inf)``
over batch x query x key, adds it to the scores, and after the softmax replaces NaN by 0
(``IsNaN`` + ``Where`` over batch x heads x query x key), for rows with no key left. Our
encoders mask only padded keys, so no row is ever empty: that work changes nothing, yet ONNX
Runtime's profile put 42 % of the Arabic model's kernel time in those ``Where`` nodes. Here
each layer instead adds ``(1 - attention_mask) * float32 min`` of shape batch x 1 x 1 x key,
computed once, and the softmax output goes straight to the value product, as transformers'
eager attention does: the probabilities come out bit for bit the same, and ONNX Runtime's
time falls by 16 % for the Arabic model (long packed windows) and 3-6 % for the others
(training/ner/README.md). Works on float and int8 (dynamically quantized) models alike:
attention itself is never quantized.

``rewrite`` checks its work: both graphs run on a padded batch, and the file is only
written if every probability of the real pieces matches.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

_PREFIX = "/additive_mask"


def _constants(graph) -> dict:
    """Name -> TensorProto of the graph's initializers and Constant nodes (converted only when read)."""
    out = {i.name: i for i in graph.initializer}
    for n in graph.node:
        if n.op_type == "Constant" and n.attribute and n.attribute[0].name == "value":
            out[n.output[0]] = n.attribute[0].t
    return out


def simplify(model, mask_input: str = "attention_mask") -> int:
    """Rewrites ``model`` (an onnx ModelProto) in place; returns how many attention layers
    it changed (0: none had the pattern, e.g. a model rewritten before)."""
    from onnx import TensorProto, helper, numpy_helper

    g = model.graph
    made_by = {o: n for n in g.node for o in n.output}
    used_by: dict[str, list] = {}
    for n in g.node:
        for i in n.input:
            used_by.setdefault(i, []).append(n)
    consts = _constants(g)
    additive = _PREFIX + "/value"
    changed = 0
    for softmax in [n for n in g.node if n.op_type == "Softmax"]:
        add = made_by.get(softmax.input[0])
        if add is None or add.op_type != "Add":
            continue
        masks = [i for i in add.input if i in made_by and made_by[i].op_type == "Where"]
        if len(masks) != 1:
            continue
        where = made_by[masks[0]]  # Where(keep, 0, -inf)
        if where.input[1] not in consts or where.input[2] not in consts:
            continue
        zero, minus_inf = (numpy_helper.to_array(consts[i]) for i in where.input[1:])
        if np.any(zero != 0) or not np.all(np.isneginf(minus_inf)):
            continue
        add.input[list(add.input).index(masks[0])] = additive
        for isnan in [u for u in used_by.get(softmax.output[0], []) if u.op_type == "IsNaN"]:
            for fix in used_by.get(isnan.output[0], []):  # Where(IsNaN(p), 0, p)
                if fix.op_type == "Where" and fix.input[2] == softmax.output[0]:
                    for user in used_by.get(fix.output[0], []):
                        user.input[list(user.input).index(fix.output[0])] = softmax.output[0]
        changed += 1
    if not changed:
        return 0
    lowest = np.array(np.finfo(np.float32).min, np.float32)
    head = [
        helper.make_node("Cast", [mask_input], [_PREFIX + "/float"], to=TensorProto.FLOAT, name=_PREFIX + "/cast"),
        helper.make_node("Constant", [], [_PREFIX + "/axes"], name=_PREFIX + "/axes",
                         value=numpy_helper.from_array(np.array([1, 2], np.int64))),
        helper.make_node("Unsqueeze", [_PREFIX + "/float", _PREFIX + "/axes"], [_PREFIX + "/keys"], name=_PREFIX + "/keys"),
        helper.make_node("Constant", [], [_PREFIX + "/one"], name=_PREFIX + "/one",
                         value=numpy_helper.from_array(np.array(1.0, np.float32))),
        helper.make_node("Sub", [_PREFIX + "/one", _PREFIX + "/keys"], [_PREFIX + "/dropped"], name=_PREFIX + "/sub"),
        helper.make_node("Constant", [], [_PREFIX + "/lowest"], name=_PREFIX + "/lowest",
                         value=numpy_helper.from_array(lowest)),
        helper.make_node("Mul", [_PREFIX + "/dropped", _PREFIX + "/lowest"], [additive], name=_PREFIX + "/mul"),
    ]
    nodes = head + list(g.node)
    # drop what no output needs any more (the old masks, IsNaN, the NaN fixes)
    needed = {o.name for o in g.output}
    keep = []
    for n in reversed(nodes):
        if any(o in needed for o in n.output):
            keep.append(n)
            needed.update(i for i in n.input if i)
    g.ClearField("node")
    g.node.extend(reversed(keep))
    inits = [i for i in g.initializer if i.name in needed]
    g.ClearField("initializer")
    g.initializer.extend(inits)
    return changed


def _session(model_bytes: bytes):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    return ort.InferenceSession(model_bytes, opts, providers=["CPUExecutionProvider"])


def _padded_feeds(model, rows: int = 4, pieces: int = 24, seed: int = 0) -> dict:
    """A batch of rows of different lengths (the rest padding), ids within the vocabulary."""
    vocab = min((i.dims[0] for i in model.graph.initializer if "word_embeddings" in i.name and len(i.dims) == 2),
                default=1000)
    rng = np.random.default_rng(seed)
    lengths = np.linspace(pieces, 3, rows).astype(int)
    mask = (np.arange(pieces)[None, :] < lengths[:, None]).astype(np.int64)
    feeds = {"input_ids": rng.integers(5, vocab, (rows, pieces)) * mask, "attention_mask": mask}
    if any(i.name == "case_ids" for i in model.graph.input):
        feeds["case_ids"] = rng.integers(0, 5, (rows, pieces)) * mask
    return feeds


def rewrite(path: Path) -> int:
    """Rewrites the model at ``path`` in place, once the rewritten graph gives the same
    probabilities on a padded batch; returns the layers changed (0: file left alone)."""
    import onnx

    model = onnx.load(str(path))
    before = model.SerializeToString()
    changed = simplify(model)
    if not changed:
        return 0
    feeds = _padded_feeds(model)
    old, new = _session(before).run(None, feeds)[0], _session(model.SerializeToString()).run(None, feeds)[0]
    real = feeds["attention_mask"].astype(bool)
    if not np.allclose(old[real], new[real], rtol=0, atol=1e-6):
        raise SystemExit(f"{path}: the rewritten attention masks change the model's output "
                         f"(max difference {np.abs(old[real] - new[real]).max():.2e}); left as it was")
    onnx.save(model, str(path))
    return changed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("models", nargs="+", type=Path, help="model.onnx files, rewritten in place")
    args = ap.parse_args()
    for path in args.models:
        changed = rewrite(path)
        print(f"{path}: " + (f"{changed} attention layers rewritten, same output" if changed
                             else "no attention mask of the exported kind; unchanged"), flush=True)


if __name__ == "__main__":
    main()
