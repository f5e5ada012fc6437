"""Integer helpers shared by the IR, the golden model, the planners and the generators."""

from __future__ import annotations

import numpy as np


def int_range(bits: int, signed: bool, narrow: bool = False) -> tuple[int, int]:
    """Representable range of a `bits`-wide integer; `narrow` drops the most negative value."""
    if signed:
        return -(1 << (bits - 1)) + int(narrow), (1 << (bits - 1)) - 1
    return 0, (1 << bits) - 1


def bits_for(lo: int, hi: int) -> int:
    """Width of the smallest two's-complement integer holding every value in [lo, hi]."""
    bits = 1
    while not (-(1 << (bits - 1)) <= lo and hi <= (1 << (bits - 1)) - 1):
        bits += 1
    return bits


def is_pow2(n: int) -> bool:
    """True for 1, 2, 4, ...: sizes that index with bit slices and divide with shifts."""
    return n >= 1 and n & (n - 1) == 0


def round_shift(acc: np.ndarray, shift: int) -> np.ndarray:
    """acc / 2**shift rounded half to even, in integers; a negative shift is an exact left shift."""
    acc = np.asarray(acc, dtype=np.int64)
    if shift <= 0:
        return acc << -shift
    q = acc >> shift  # floor division (arithmetic shift)
    r = acc - (q << shift)  # remainder in [0, 2**shift)
    half = np.int64(1) << (shift - 1)
    return q + ((r > half) | ((r == half) & ((q & 1) == 1)))


def isqrt(x: np.ndarray) -> np.ndarray:
    """floor(sqrt(x)) of non-negative integers below 2**52, exactly (a float estimate, corrected by one either way)."""
    x = np.asarray(x, dtype=np.int64)
    r = np.floor(np.sqrt(x.astype(np.float64))).astype(np.int64)
    r -= r * r > x
    r += (r + 1) * (r + 1) <= x
    return r
