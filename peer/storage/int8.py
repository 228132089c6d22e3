"""Mirror of crates/gkmvlp/src/storage/int8.rs: dequantises the int8 safetensors file.

Every matrix is stored as i8 with one f32 scale per block of 64 consecutive values under
`<name>.int8_scales`; finer modules add `<name>.low<k>`, the k low bits of each value packed end to end
from the least significant bit of the first byte, so that q = (high << k) + low. Vectors stay f32.
"""

import numpy as np

BLOCK = 64
SCALES_SUFFIX = ".int8_scales"
LOW_BITS_SUFFIX = ".low"
LEGACY_LOW2_SUFFIX = ".int10_low"


def _is_side_tensor(name):
    if name.endswith(SCALES_SUFFIX) or name.endswith(LEGACY_LOW2_SUFFIX):
        return True
    head, sep, k = name.rpartition(LOW_BITS_SUFFIX)
    return bool(sep) and k.isdigit()


def _low_bits(tensors, name):
    for k in range(1, 9):
        low = tensors.get(f"{name}{LOW_BITS_SUFFIX}{k}")
        if low is not None:
            return k, low
    low = tensors.get(f"{name}{LEGACY_LOW2_SUFFIX}")
    return (2, low) if low is not None else (0, None)


def dequantize(tensors):
    """`tensors`: name -> numpy array as stored. Returns name -> float32 array (or the stored array)."""
    out = {}
    for name, value in tensors.items():
        if _is_side_tensor(name):
            continue
        if value.dtype != np.int8:
            out[name] = value
            continue
        scales = tensors[name + SCALES_SUFFIX].astype(np.float32)
        high = value.reshape(-1).astype(np.int32)
        n = high.size
        if scales.size != -(-n // BLOCK):
            raise ValueError(f"{name}: {scales.size} scales for {n} values")
        k, low = _low_bits(tensors, name)
        q = high
        if k:
            bits = np.unpackbits(low.reshape(-1), bitorder="little")[: n * k].reshape(n, k).astype(np.int32)
            q = (high << k) + (bits << np.arange(k, dtype=np.int32)).sum(axis=1)
        values = q.astype(np.float32) * np.repeat(scales, BLOCK)[:n]
        out[name] = values.reshape(value.shape)
    return out
