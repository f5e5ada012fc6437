"""The golden model: integer-only inference from the IR (numpy int64). The arithmetic contract.

It must equal Brevitas' quantised forward exactly (integer logits * 2**output_scale_exp ==
Brevitas logits), and the accelerator must equal it bit for bit. Nothing here uses floats
except `quantize_input`, which maps float features onto the input grid exactly as Brevitas
does (x / 2**e is exact in binary floating point; numpy's round is half-to-even like torch's).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from faultedge.errors import IRError
from faultedge.ir import Argmax, Conv1d, IRModel, Linear, MaxPool1d, Requant, dispatch


def round_shift(acc: np.ndarray, shift: int) -> np.ndarray:
    """acc / 2**shift rounded half to even, in integers; a negative shift is an exact left shift."""
    acc = np.asarray(acc, dtype=np.int64)
    if shift <= 0:
        return acc << -shift
    q = acc >> shift  # floor division (arithmetic shift)
    r = acc - (q << shift)  # remainder in [0, 2**shift)
    half = np.int64(1) << (shift - 1)
    return q + ((r > half) | ((r == half) & ((q & 1) == 1)))


def requantize(acc: np.ndarray, rq: Requant) -> np.ndarray:
    return np.clip(round_shift(acc, rq.shift), rq.clamp[0], rq.clamp[1])


def quantize_input(ir: IRModel, features: np.ndarray) -> np.ndarray:
    """Float model inputs (N, *input.shape) -> integer inputs on the IR's input grid."""
    q = ir.input
    x = np.asarray(features, dtype=np.float64)
    if x.ndim < 2 or int(np.prod(x.shape[1:])) != int(np.prod(q.shape)):
        raise IRError(f"input: expected features of shape (N, {', '.join(map(str, q.shape))}), got {x.shape}")
    if not np.all(np.isfinite(x)):
        raise IRError("input: features contain NaN/Inf")
    return np.clip(np.round(np.ldexp(x, -q.scale_exp)), q.clamp[0], q.clamp[1]).astype(np.int64).reshape((len(x), *q.shape))


def _check_acc(acc: np.ndarray, layer: Conv1d | Linear) -> np.ndarray:
    lim = 1 << (layer.acc_bits - 1)
    if acc.size and (acc.min() < -lim or acc.max() >= lim):
        raise IRError(f"layer {layer.name!r}: accumulator {int(np.abs(acc).max())} overflows acc_bits={layer.acc_bits}")
    return acc


def _conv1d(x: np.ndarray, layer: Conv1d) -> np.ndarray:
    n, c, length = x.shape
    p, k, s = layer.padding, layer.kernel, layer.stride
    padded = np.zeros((n, c, length + 2 * p), dtype=np.int64)
    padded[:, :, p : p + length] = x
    out_len = layer.out_shape[1]
    idx = np.arange(out_len)[:, None] * s + np.arange(k)[None, :]  # (L', K)
    patches = padded[:, :, idx]  # (N, C, L', K)
    acc = np.einsum("nclk,ock->nol", patches, layer.weight.data, dtype=np.int64) + layer.bias.data[None, :, None]
    return _check_acc(acc, layer)


def _linear(x: np.ndarray, layer: Linear) -> np.ndarray:
    flat = x.reshape(len(x), -1)
    acc = flat @ layer.weight.data.T + layer.bias.data[None, :]
    return _check_acc(acc, layer)


def _mac(fn):
    def run(x: np.ndarray, layer: Conv1d | Linear) -> np.ndarray:
        acc = fn(x, layer)
        return requantize(acc, layer.requant) if layer.requant else acc

    return run


def _maxpool1d(x: np.ndarray, layer: MaxPool1d) -> np.ndarray:
    out_len = layer.out_shape[1]
    idx = np.arange(out_len)[:, None] * layer.stride + np.arange(layer.kernel)[None, :]
    return x[:, :, idx].max(axis=-1)


OPS = {"conv1d": _mac(_conv1d), "linear": _mac(_linear), "maxpool1d": _maxpool1d}


@dataclass
class GoldenResult:
    logits: np.ndarray  # int64 (N, n_classes), at scale 2**output_scale_exp
    classes: np.ndarray  # int64 (N,)
    activations: list[np.ndarray]  # per layer output (only with trace=True)


def run(ir: IRModel, x_int: np.ndarray, trace: bool = False) -> GoldenResult:
    """Integer inference on integer inputs (N, *input.shape)."""
    x = np.asarray(x_int)
    if not np.issubdtype(x.dtype, np.integer):
        raise IRError(f"input: golden.run takes integers, got dtype {x.dtype} (use golden.predict for float features)")
    x = x.astype(np.int64).reshape((len(x), *ir.input.shape))
    lo, hi = ir.input.clamp
    if x.size and (x.min() < lo or x.max() > hi):
        raise IRError(f"input: values outside the input range [{lo}, {hi}]")
    acts: list[np.ndarray] = []
    logits = x
    for layer in ir.layers:
        if isinstance(layer, Argmax):
            break
        x = dispatch(layer, OPS, "golden model")(x, layer)
        if trace:
            acts.append(x)
        logits = x
    logits = logits.reshape(len(logits), -1)
    return GoldenResult(logits, np.argmax(logits, axis=1).astype(np.int64), acts)


def predict(ir: IRModel, features: np.ndarray) -> GoldenResult:
    """Float model inputs -> quantised input -> integer inference."""
    return run(ir, quantize_input(ir, features))


def dequantized_logits(ir: IRModel, logits_int: np.ndarray) -> np.ndarray:
    return np.ldexp(logits_int.astype(np.float64), ir.output_scale_exp)
