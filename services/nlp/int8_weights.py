"""Which int8 weights an encoder model runs with on this CPU.

The encoder models are quantized with signed int8 weights (per channel) and unsigned int8
activations, quantized at run time: ONNX Runtime's U8S8 matrix product. On x86 CPUs without
VNNI (AVX2, or AVX-512 without VNNI) its kernel multiplies with ``vpmaddubsw``, which adds
each pair of u8 x s8 products in 16 bits and saturates: 255 x 127 x 2 is past 32,767. A
model's labels then depend on the CPU (the Arabic model, ANERcorp dev F1: 0.773 on a CPU with
AVX-512 VNNI, 0.765 on an AVX2 one). With VNNI (``vpdpbusd`` adds in 32 bits) nothing
saturates, and on AMX or ARM the kernels do not use that instruction either.

Where the kernel would saturate, the weights are loaded as unsigned int8 instead: ``q + 128``
with the zero point moved by the same 128, which is the same number exactly, and ONNX
Runtime then runs its U8U8 kernel, which widens to 16 bits before it multiplies. The labels
are then those of a VNNI CPU (Arabic 0.774 on the AVX2 CPU), for about 18 % more ONNX Runtime
time there (measured on ANERcorp dev's batches). Where VNNI is present the signed weights
stay: ONNX Runtime has VNNI kernels for U8S8 only.

``DOCENRICH_INT8_WEIGHTS``: ``auto`` (the default, as above), ``signed`` or ``unsigned``.
"""

from __future__ import annotations

import contextlib
import functools
import os
import platform
import tempfile
from collections.abc import Iterator
from pathlib import Path

# /proc/cpuinfo flags under which ONNX Runtime's U8S8 kernel cannot saturate
EXACT_FLAGS = frozenset({"avx512_vnni", "avx_vnni", "amx_int8"})
_X86 = {"x86_64", "amd64", "i386", "i686", "x86"}


@functools.cache
def cpu_flags() -> frozenset[str] | None:
    """The CPU's feature flags from /proc/cpuinfo (Linux), or None where it cannot be read;
    read once per process (every encoder model asks)."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("flags"):
                    return frozenset(line.partition(":")[2].split())
    except OSError:
        return None
    return None


def saturates(machine: str | None = None, flags: set[str] | frozenset[str] | None = None) -> bool:
    """True where ONNX Runtime's U8S8 kernel adds products in 16 bits: an x86 CPU whose
    flags are known and name no VNNI or AMX. Unknown flags (not Linux) count as exact."""
    machine = (machine if machine is not None else platform.machine()).lower()
    if machine not in _X86:
        return False
    flags = cpu_flags() if flags is None else flags
    return flags is not None and not flags & EXACT_FLAGS


def choice(setting: str | None = None) -> str:
    """``signed`` or ``unsigned``: the weights this process loads (see the module's doc)."""
    setting = (setting if setting is not None else os.environ.get("DOCENRICH_INT8_WEIGHTS", "auto")).strip().lower()
    if setting in ("signed", "unsigned"):
        return setting
    if setting != "auto":
        raise ValueError(f"DOCENRICH_INT8_WEIGHTS={setting!r}: use auto, signed or unsigned")
    return "unsigned" if saturates() else "signed"


def unsigned(model) -> int:
    """Rewrites, in the loaded ONNX ``model``, every signed int8 weight and zero point that a
    ``MatMulInteger`` multiplies by as unsigned int8 (``q + 128``): the same values. Returns
    how many tensors were rewritten."""
    import numpy as np
    from onnx import numpy_helper

    inits = {i.name: i for i in model.graph.initializer}
    done: set[str] = set()
    for node in model.graph.node:
        if node.op_type != "MatMulInteger":
            continue
        for name in node.input[1::2]:  # B and its zero point (inputs 1 and 3)
            if name in done or name not in inits:
                continue
            a = numpy_helper.to_array(inits[name])
            if a.dtype != np.int8:
                continue
            inits[name].CopyFrom(numpy_helper.from_array((a.astype(np.int16) + 128).astype(np.uint8), name))
            done.add(name)
    return len(done)


@contextlib.contextmanager
def model_file(path: Path, setting: str | None = None) -> Iterator[tuple[str | bytes, str]]:
    """The model file ONNX Runtime should load for ``path``, and which weights it holds:
    ``path`` itself, or a copy with unsigned weights in a temporary directory that is removed
    when the block ends (a session made from the file keeps nothing of it). A file, not the
    model's bytes: a session made from bytes held 72 MB more RSS for the Arabic model, and the
    worker with every model loaded 186 MB more."""
    if choice(setting) == "signed":
        yield str(path), "signed"
        return
    import onnx

    model = onnx.load(str(path))
    if not unsigned(model):
        yield str(path), "signed"  # nothing to rewrite (not a dynamically quantized model)
        return
    try:
        tmp = tempfile.TemporaryDirectory(prefix="docenrich-int8-")
    except OSError:  # no writable temporary directory: the bytes, at the memory cost above
        yield model.SerializeToString(), "unsigned"
        return
    with tmp:
        out = Path(tmp.name) / path.name
        onnx.save(model, str(out))
        del model
        yield str(out), "unsigned"
