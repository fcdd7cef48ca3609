"""The frame codec of the demos: arrays quantized to 6 or 12 bits, as base64 characters.

A demo's frames carry every panel array in this form, so that a widget with a whole grid of
frames stays small: :func:`encode_array` quantizes an array (one or two base64 characters per
number) between a rounded ``lo`` and ``hi``, :func:`decode_array` inverts it (the JavaScript
``decode`` in ``static/demo.js`` does the same) and :func:`quantization_error` says how far off a
decoded number can be.
"""

from __future__ import annotations

import math

import numpy as np

ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_ALPHABET_BYTES = np.frombuffer(ALPHABET.encode("ascii"), dtype=np.uint8)
_ALPHABET_INDEX = np.full(128, -1, dtype=np.int64)
_ALPHABET_INDEX[_ALPHABET_BYTES] = np.arange(64)


def _round_out(lo, hi):
    """``lo`` rounded down and ``hi`` rounded up to about four significant digits of the span."""
    lo, hi = float(lo), float(hi)
    if not hi - lo > 1e-12 * max(1.0, abs(lo), abs(hi)):
        pad = 1e-3 * max(1.0, abs(lo))
        lo, hi = lo - pad, hi + pad
    step = 10.0 ** (math.floor(math.log10(hi - lo)) - 3)
    return float(f"{math.floor(lo / step) * step:.6g}"), float(f"{math.ceil(hi / step) * step:.6g}")


def encode_array(values, bits=6, lo=None, hi=None):
    """Quantize an array to ``bits`` (6 or 12) per number, as base64 characters.

    ``lo`` and ``hi`` fix the range (values outside are clipped); by default they are
    the array's minimum and maximum, rounded outwards. The largest error of a decoded
    value is half a quantization step, ``(hi - lo) / (2 ** bits - 1) / 2``.
    """
    if bits not in (6, 12):
        raise ValueError(f"bits must be 6 or 12, got {bits}")
    array = np.asarray(values, dtype=np.float64)
    if not np.isfinite(array).all():
        raise ValueError("cannot encode NaN or infinite values")
    lo, hi = _round_out(array.min() if lo is None else lo, array.max() if hi is None else hi)
    levels = (1 << bits) - 1
    q = np.rint((np.clip(array, lo, hi) - lo) * (levels / (hi - lo))).astype(np.int64).ravel()
    digits = q if bits == 6 else np.stack([q >> 6, q & 63], axis=1).ravel()
    data = _ALPHABET_BYTES[digits].tobytes().decode("ascii")
    return {"shape": list(array.shape), "lo": lo, "hi": hi, "bits": bits, "data": data}


def decode_array(encoded):
    """The inverse of :func:`encode_array` (up to the quantization): a float64 array."""
    digits = _ALPHABET_INDEX[np.frombuffer(encoded["data"].encode("ascii"), dtype=np.uint8)]
    if encoded["bits"] == 12:
        digits = digits[0::2] * 64 + digits[1::2]
    levels = (1 << encoded["bits"]) - 1
    values = encoded["lo"] + digits * ((encoded["hi"] - encoded["lo"]) / levels)
    return values.reshape(encoded["shape"])


def quantization_error(encoded):
    """The largest possible |decoded - original| of an encoded array (inside its range)."""
    return (encoded["hi"] - encoded["lo"]) / ((1 << encoded["bits"]) - 1) / 2
