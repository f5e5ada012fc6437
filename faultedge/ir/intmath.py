"""Integer helpers shared by the IR, the golden model, the planners and the generators."""

from __future__ import annotations


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
