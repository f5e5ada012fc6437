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
from faultedge.ir import frontend
from faultedge.ir.intmath import round_shift
from faultedge.ir.model import Add, Argmax, AttentionNorm, AvgPool2d, Conv1d, IRModel, KWConv2d, Linear, MaxPool1d, Requant, Shift, dispatch


def requantize(acc: np.ndarray, rq: Requant) -> np.ndarray:
    return np.clip(round_shift(acc, rq.shift), rq.clamp[0], rq.clamp[1])


def divide_half_even(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den rounded to the nearest integer, ties to even, for den > 0 (the IR's one division)."""
    num, den = np.asarray(num, dtype=np.int64), np.asarray(den, dtype=np.int64)
    if np.any(den <= 0):
        raise IRError("divide_half_even: the denominator must be positive")
    q = num // den  # floor
    twice_r = 2 * (num - q * den)  # 2 * remainder, in [0, 2 * den)
    return q + ((twice_r > den) | ((twice_r == den) & ((q & 1) == 1)))


def attention_norm(z: np.ndarray, norm: AttentionNorm) -> np.ndarray:
    """Integer z / (sum |z| + eps) over the last axis (see faultedge.ir.AttentionNorm)."""
    den = np.abs(z).sum(axis=-1, keepdims=True) + norm.eps
    return np.clip(divide_half_even(z << -norm.scale_exp, den), norm.clamp[0], norm.clamp[1])


def quantize_input(ir: IRModel, features: np.ndarray) -> np.ndarray:
    """Float model inputs (N, *input.shape) -> integer inputs on the IR's input grid."""
    q = ir.input
    x = np.asarray(features, dtype=np.float64)
    if x.ndim < 2 or int(np.prod(x.shape[1:])) != int(np.prod(q.shape)):
        raise IRError(f"input: expected features of shape (N, {', '.join(map(str, q.shape))}), got {x.shape}")
    if not np.all(np.isfinite(x)):
        raise IRError("input: features contain NaN/Inf")
    return np.clip(np.round(np.ldexp(x, -q.scale_exp)), q.clamp[0], q.clamp[1]).astype(np.int64).reshape((len(x), *q.shape))


def _check_acc(acc: np.ndarray, layer: Conv1d | Linear | KWConv2d | Add, bits: int | None = None, what: str = "accumulator") -> np.ndarray:
    bits = layer.acc_bits if bits is None else bits
    lim = 1 << (bits - 1)
    if acc.size and (acc.min() < -lim or acc.max() >= lim):
        raise IRError(f"layer {layer.name!r}: {what} {int(np.abs(acc).max())} overflows {'acc_bits' if what == 'accumulator' else 'assembly_acc_bits'}={bits}")
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


def _avgpool2d(x: np.ndarray, layer: AvgPool2d) -> np.ndarray:
    n, c, _, _ = x.shape
    _, ho, wo = layer.out_shape
    k = layer.kernel
    sums = x[:, :, : ho * k, : wo * k].reshape(n, c, ho, k, wo, k).sum(axis=(3, 5))
    return round_shift(sums, layer.shift)


def kw_kernels(x: np.ndarray, layer: KWConv2d) -> np.ndarray:
    """Per-sample integer kernels (N, C_out, C_in, k, k) of a kwconv2d: attention, division, assembly."""
    n, c_in = x.shape[:2]
    gap = requantize(x.reshape(n, c_in, -1).sum(axis=-1), layer.gap)
    h = _mac(_linear)(gap, layer.fc1)
    z = _mac(_linear)(h, layer.fc2).reshape(n, layer.mixtures, layer.cells + 1)
    a = attention_norm(z, layer.norm)[..., :-1]  # the zero cell only shrinks the others
    cells = layer.warehouse_cells.data
    mixed = a @ cells.reshape(layer.cells, -1)  # (N, m, c_o * c_i * k * k)
    c_out, k = layer.out_shape[0], layer.kernel
    blocks = (n, c_out // layer.cell_out, c_in // layer.cell_in, layer.cell_out, layer.cell_in, k, k)
    kernels = mixed.reshape(blocks).transpose(0, 1, 3, 2, 4, 5, 6).reshape(n, c_out, c_in, k, k)
    kernels = _check_acc(kernels * layer.gain.data[None, :, None, None, None], layer, layer.assembly_acc_bits, "kernel assembly")
    return requantize(kernels, layer.kernel_requant)


def _kwconv2d(x: np.ndarray, layer: KWConv2d, chunk: int = 64) -> np.ndarray:
    kernels = kw_kernels(x, layer)
    n, c_in, _, _ = x.shape
    c_out, ho, wo = layer.out_shape
    k, p = layer.kernel, layer.padding
    padded = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    out = np.empty((n, c_out, ho, wo), dtype=np.int64)
    for i in range(0, n, chunk):  # bounded memory for the (N, C_in * k * k, H * W) patches
        win = np.lib.stride_tricks.sliding_window_view(padded[i : i + chunk], (k, k), axis=(2, 3))  # (n, C, Ho, Wo, k, k)
        patches = win.transpose(0, 1, 4, 5, 2, 3).reshape(len(win), c_in * k * k, ho * wo)
        acc = kernels[i : i + chunk].reshape(len(win), c_out, c_in * k * k) @ patches + layer.bias.data[None, :, None]
        out[i : i + chunk] = requantize(_check_acc(acc, layer), layer.requant).reshape(len(win), c_out, ho, wo)
    return out


def _shift(x: np.ndarray, layer: Shift) -> np.ndarray:
    out = np.zeros_like(x)
    length = x.shape[2]
    for c, k in enumerate(layer.offsets):
        out[:, c, max(k, 0) : length + min(k, 0)] = x[:, c, max(-k, 0) : length - max(k, 0)]
    return out


def _add(acc: np.ndarray, layer: Add, skip: np.ndarray) -> np.ndarray:
    total = (acc << layer.acc_shift) + (skip << layer.skip_shift)
    return requantize(_check_acc(total, layer), layer.requant)


OPS = {"conv1d": _mac(_conv1d), "linear": _mac(_linear), "maxpool1d": _maxpool1d, "avgpool2d": _avgpool2d, "kwconv2d": _kwconv2d,
       "shift": _shift, "add": _add}  # add also takes the output of its `skip` layer


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
    skips = {l.skip for l in ir.layers if isinstance(l, Add)}
    kept: dict[str, np.ndarray] = {}  # outputs an add reads later
    for layer in ir.layers:
        if isinstance(layer, Argmax):
            break
        fn = dispatch(layer, OPS, "golden model")
        x = fn(x, layer, kept[layer.skip]) if isinstance(layer, Add) else fn(x, layer)
        if layer.name in skips:
            kept[layer.name] = x
        if trace:
            acts.append(x)
        logits = x
    logits = logits.reshape(len(logits), -1)
    return GoldenResult(logits, np.argmax(logits, axis=1).astype(np.int64), acts)


def predict_samples(ir: IRModel, samples: np.ndarray) -> GoldenResult:
    """Raw integer sample windows (M, window) -> the front end (faultedge.ir.frontend) -> integer inference."""
    if ir.frontend is None:
        raise IRError(f"{ir.name}: this IR has no front end (its network takes features, not raw samples)")
    return run(ir, frontend.inputs(ir.frontend, samples).reshape((-1, *ir.input.shape)))


def predict(ir: IRModel, features: np.ndarray) -> GoldenResult:
    """Float model inputs -> quantised input -> integer inference."""
    return run(ir, quantize_input(ir, features))


def dequantized_logits(ir: IRModel, logits_int: np.ndarray) -> np.ndarray:
    return np.ldexp(logits_int.astype(np.float64), ir.output_scale_exp)
