"""The integer IR: the one contract between quantisation and every integer consumer.

A network is a chain of layers on integer tensors. Every scale is a power of two, written as
its exponent (`scale = 2 ** scale_exp`), so requantisation is an arithmetic shift with
round-half-to-even (torch.round, which Brevitas uses) and saturation. The golden model
(faultedge.ir.golden), the accelerator generator (faultedge.hdl) and the simulator all read
this file and nothing else of the training stages.

Tensors are channel-major: a 1-D feature map has shape (channels, length), an image map
(channels, height, width); `linear` consumes the flattened map (index c * length + l, or
(c * height + h) * width + w), as torch.flatten does.

Image networks (MKW-Net) add two ops: `avgpool2d` (k x k sum, then a round-half-even shift by
log2(k*k)) and `kwconv2d`, a KernelWarehouse convolution whose kernel is assembled per sample
from a warehouse of integer cells shared between layers (top-level "warehouses", referenced by
index); see `KWConv2d` for its integer arithmetic, including the one division.
The axial-shift MLP (seed 004) adds two more: `shift` moves each channel of a (channels, length)
map along the length by its own offset with zero fill, and `add` is a residual add: the raw
accumulators of the MAC layer before it plus the output of an earlier layer (named by `skip`),
both aligned to the finer of their two scales, into one requantiser (see `Add`). Its per-token
linear layers are kernel-1 conv1d layers and its patch embedding a conv1d with stride = kernel.
The version stays 1: the additions are new ops and an optional top-level field, which a reader
without them refuses with a clear error.

JSON layout (version 1):

    {"format": "faultedge-ir", "version": 1, "name": ..., "classes": [...],
     "input": {"shape": [1, 1024], "bits": 8, "signed": true, "scale_exp": -4,
               "rounding": "half_even", "clamp": [-128, 127]},
     "layers": [{"op": "conv1d", ...}, {"op": "maxpool1d", ...}, {"op": "linear", ...}, {"op": "argmax", ...}],
     "output": {"scale_exp": -12},
     "preprocessing": {...} | null, "meta": {...}, "warehouses": [tensor, ...] (only when used)}

Loading validates every field and names the offending one (`layers[1].weight.data: ...`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Union

import numpy as np

from faultedge.errors import IRError
from faultedge.ir.frontend import FrontEnd
from faultedge.ir.intmath import int_range, is_pow2
from faultedge.runs import write_text

IR_FORMAT = "faultedge-ir"
IR_VERSION = 1
ROUNDING_MODES = ("half_even",)
OPS = ("conv1d", "linear", "maxpool1d", "argmax", "avgpool2d", "kwconv2d", "shift", "add")


@dataclass(frozen=True)
class IntTensor:
    """Integer constants (weights or biases) with their width and power-of-two scale."""

    shape: tuple[int, ...]
    bits: int
    scale_exp: int
    data: np.ndarray  # int64, `shape`

    def to_json(self) -> dict[str, Any]:
        return {"shape": list(self.shape), "bits": self.bits, "scale_exp": self.scale_exp, "data": self.data.reshape(-1).tolist()}


@dataclass(frozen=True)
class Quantizer:
    """float -> int: clamp(round_half_even(x / 2**scale_exp), *clamp)."""

    shape: tuple[int, ...]
    bits: int
    signed: bool
    scale_exp: int
    clamp: tuple[int, int]
    rounding: str = "half_even"

    def to_json(self) -> dict[str, Any]:
        return {"shape": list(self.shape), "bits": self.bits, "signed": self.signed, "scale_exp": self.scale_exp, "rounding": self.rounding, "clamp": list(self.clamp)}


@dataclass(frozen=True)
class Requant:
    """Accumulator -> activation: clamp(round_half_even(acc / 2**shift), *clamp).

    `shift` = out_scale_exp - acc_scale_exp; a negative shift is an exact left shift. A ReLU
    before the quantiser is the lower clamp 0 (relu=True requires clamp[0] >= 0).
    """

    shift: int
    bits: int
    signed: bool
    relu: bool
    out_scale_exp: int
    clamp: tuple[int, int]
    rounding: str = "half_even"

    def to_json(self) -> dict[str, Any]:
        return {
            "shift": self.shift,
            "bits": self.bits,
            "signed": self.signed,
            "relu": self.relu,
            "out_scale_exp": self.out_scale_exp,
            "rounding": self.rounding,
            "clamp": list(self.clamp),
        }


@dataclass(frozen=True)
class Conv1d:
    name: str
    in_shape: tuple[int, int]  # (channels, length)
    out_shape: tuple[int, int]
    kernel: int
    stride: int
    padding: int  # zeros on both sides
    weight: IntTensor  # (out_channels, in_channels, kernel)
    bias: IntTensor  # (out_channels,), at the accumulator scale
    acc_bits: int  # signed width that holds every partial and final sum for any valid input
    requant: Requant | None  # None: the accumulator is the network output
    op: str = field(default="conv1d", init=False)


@dataclass(frozen=True)
class Linear:
    name: str
    in_shape: tuple[int, ...]  # (channels, length) of the map it flattens, or (features,)
    out_shape: tuple[int]
    weight: IntTensor  # (out_features, in_features)
    bias: IntTensor  # (out_features,)
    acc_bits: int
    requant: Requant | None
    op: str = field(default="linear", init=False)


@dataclass(frozen=True)
class MaxPool1d:
    name: str
    in_shape: tuple[int, int]
    out_shape: tuple[int, int]
    kernel: int
    stride: int
    op: str = field(default="maxpool1d", init=False)


@dataclass(frozen=True)
class Argmax:
    """Index of the largest logit; ties go to the lowest index (as numpy and torch do)."""

    name: str
    in_shape: tuple[int]
    out_shape: tuple[int] = (1,)
    op: str = field(default="argmax", init=False)


@dataclass(frozen=True)
class AvgPool2d:
    """k x k windows at stride k: the window sum shifted right by log2(k*k), rounded half to even.

    The output keeps the input's scale; k*k must be a power of two so the mean is a shift.
    """

    name: str
    in_shape: tuple[int, int, int]
    out_shape: tuple[int, int, int]
    kernel: int
    op: str = field(default="avgpool2d", init=False)

    @property
    def shift(self) -> int:
        return (self.kernel * self.kernel).bit_length() - 1


@dataclass(frozen=True)
class AttentionNorm:
    """KernelWarehouse's linear normalisation a = z / (sum_j |z_j| + eps), in integers.

    Per mixture, over its n + 1 logits z (the last is the "zero cell", dropped afterwards):
    a_int = clamp(div_half_even(z_int * 2**-scale_exp, sum_j |z_int_j| + eps), *clamp), where
    div_half_even(p, q) is p / q rounded to the nearest integer, ties to even (q > 0). `eps` is
    the float eps on z's grid (at least 1, so the denominator is positive); z's scale cancels.
    """

    eps: int
    bits: int
    scale_exp: int  # <= 0: |a| < 1
    clamp: tuple[int, int]
    rounding: str = "half_even"

    def to_json(self) -> dict[str, Any]:
        return {"eps": self.eps, "bits": self.bits, "scale_exp": self.scale_exp, "rounding": self.rounding, "clamp": list(self.clamp)}


@dataclass(frozen=True)
class KWConv2d:
    """A k x k, stride-1 KernelWarehouse convolution with a per-sample kernel, BatchNorm and ReLU folded.

    Per sample: gap = requantize(sum of the input map over H*W, gap) (the mean is the sum at
    scale 2**-log2(H*W), so H*W must be a power of two); h = fc1(gap) (attention FC with its
    BatchNorm folded, ReLU requant); z = fc2(h) (signed requant), viewed as (mixtures, cells + 1);
    a = norm(z) without the zero cell; mixed = a @ warehouse cells (n, c_o, c_i, k, k) flattened;
    the kernel (C_out, C_in, k, k) takes block (i, j) of c_o x c_i channels from mixture
    i * (C_in / c_i) + j; it is multiplied by `gain` per output channel (the folded BatchNorm
    gain) and requantised (`kernel_requant`); then conv2d with zero padding, + bias, requant.
    """

    name: str
    in_shape: tuple[int, int, int]
    out_shape: tuple[int, int, int]
    kernel: int
    padding: int
    gap: Requant  # sum over H*W -> attention input; shift includes the log2(H*W) of the mean
    fc1: Linear
    fc2: Linear
    norm: AttentionNorm
    mixtures: int
    cells: int  # n, without the zero cell
    cell_out: int
    cell_in: int
    warehouse: int  # index into IRModel.warehouses
    warehouse_cells: IntTensor  # that warehouse (n, c_o, c_i, k, k), resolved on load
    gain: IntTensor  # (C_out,)
    assembly_acc_bits: int  # signed width of (a @ cells) * gain
    kernel_requant: Requant
    bias: IntTensor  # (C_out,), at input scale + kernel scale
    acc_bits: int
    requant: Requant
    op: str = field(default="kwconv2d", init=False)

    @property
    def macs(self) -> int:
        """Per sample: conv, kernel assembly (+ gain), attention FCs."""
        c_out, h, w = self.out_shape
        conv = c_out * h * w * self.in_shape[0] * self.kernel**2
        assembly = self.mixtures * self.warehouse_cells.data.size + c_out * self.in_shape[0] * self.kernel**2
        return conv + assembly + self.fc1.weight.data.size + self.fc2.weight.data.size


@dataclass(frozen=True)
class Shift:
    """Per-channel shift along the length, zero fill: out[c, l] = x[c, l - offsets[c]] (0 outside the map).

    The axial shift of an axial-shift MLP block; the scale and range pass through unchanged."""

    name: str
    in_shape: tuple[int, int]
    out_shape: tuple[int, int]
    offsets: tuple[int, ...]  # one per channel, |offset| < length
    op: str = field(default="shift", init=False)


@dataclass(frozen=True)
class Add:
    """A residual add into one requantiser: requantize((acc << acc_shift) + (skip << skip_shift)).

    `acc` are the raw accumulators of the MAC layer right before (requant null) at 2**acc_exp, `skip`
    the output of the earlier layer named `skip` at 2**skip_exp. Both are aligned to the finer scale
    2**min(acc_exp, skip_exp) (so one of the two shifts is 0) and summed exactly, then one requantiser
    rounds and saturates the sum: the float sum Brevitas quantises, in integers.
    """

    name: str
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    skip: str  # the name of the earlier layer whose output is the second operand
    acc_shift: int  # >= 0: left shift of the accumulators onto the common scale
    skip_shift: int  # >= 0: left shift of the skip operand
    acc_bits: int  # signed width of the aligned sum
    requant: Requant
    op: str = field(default="add", init=False)


Layer = Union[Conv1d, Linear, MaxPool1d, Argmax, AvgPool2d, KWConv2d, Shift, Add]
MAC_LAYERS = (Conv1d, Linear)


@dataclass(frozen=True)
class IRModel:
    name: str
    classes: tuple[str, ...]
    input: Quantizer
    layers: tuple[Layer, ...]
    output_scale_exp: int  # scale of the integer logits (the last MAC layer's accumulator)
    preprocessing: dict[str, Any] | None = None  # faultedge.data.features.Preprocessing.to_dict()
    meta: dict[str, Any] = field(default_factory=dict)
    warehouses: tuple[IntTensor, ...] = ()  # KernelWarehouse cells shared by kwconv2d layers
    frontend: FrontEnd | None = None  # raw samples -> the inputs, in integers (faultedge.ir.frontend)

    @property
    def logits_layer(self) -> Conv1d | Linear:
        return [l for l in self.layers if isinstance(l, MAC_LAYERS)][-1]

    @property
    def macs(self) -> int:
        total = 0
        for l in self.layers:
            if isinstance(l, Conv1d):
                total += int(np.prod(l.out_shape)) * l.in_shape[0] * l.kernel
            elif isinstance(l, Linear):
                total += l.weight.data.size
            elif isinstance(l, KWConv2d):
                total += l.macs
        return total

    def to_json(self) -> dict[str, Any]:
        out = {
            "format": IR_FORMAT,
            "version": IR_VERSION,
            "name": self.name,
            "classes": list(self.classes),
            "input": self.input.to_json(),
            "layers": [_layer_to_json(l) for l in self.layers],
            "output": {"scale_exp": self.output_scale_exp},
            "preprocessing": self.preprocessing,
            "meta": self.meta,
        }
        if self.warehouses:  # absent otherwise, so 1-D networks keep their exact bytes
            out["warehouses"] = [w.to_json() for w in self.warehouses]
        if self.frontend is not None:
            out["frontend"] = self.frontend.to_json()
        return out

    def dumps(self) -> str:
        """Canonical text: the same model always gives the same bytes."""
        return json.dumps(self.to_json(), separators=(",", ":")) + "\n"

    def save(self, path: Path | str) -> None:
        write_text(path, self.dumps())

    @classmethod
    def from_json(cls, obj: Any) -> "IRModel":
        return _parse_model(obj)

    @classmethod
    def load(cls, path: Path | str) -> "IRModel":
        path = Path(path)
        try:
            obj = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise IRError(f"{path}: IR file not found") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise IRError(f"{path}: not a JSON IR file ({exc})") from None
        try:
            return _parse_model(obj)
        except IRError as exc:
            raise IRError(f"{path}: {exc}") from None


def _layer_to_json(layer: Layer) -> dict[str, Any]:
    out: dict[str, Any] = {"op": layer.op, "name": layer.name, "in_shape": list(layer.in_shape), "out_shape": list(layer.out_shape)}
    if isinstance(layer, Conv1d):
        out.update(kernel=layer.kernel, stride=layer.stride, padding=layer.padding)
    if isinstance(layer, MaxPool1d):
        out.update(kernel=layer.kernel, stride=layer.stride)
    if isinstance(layer, AvgPool2d):
        out.update(kernel=layer.kernel)
    if isinstance(layer, Shift):
        out.update(offsets=list(layer.offsets))
    if isinstance(layer, Add):
        out.update(skip=layer.skip, acc_shift=layer.acc_shift, skip_shift=layer.skip_shift, acc_bits=layer.acc_bits, requant=layer.requant.to_json())
    if isinstance(layer, MAC_LAYERS):
        out.update(
            weight=layer.weight.to_json(),
            bias=layer.bias.to_json(),
            acc_bits=layer.acc_bits,
            requant=layer.requant.to_json() if layer.requant else None,
        )
    if isinstance(layer, KWConv2d):
        out.update(
            kernel=layer.kernel,
            padding=layer.padding,
            gap=layer.gap.to_json(),
            fc1=_layer_to_json(layer.fc1),
            fc2=_layer_to_json(layer.fc2),
            norm=layer.norm.to_json(),
            mixtures=layer.mixtures,
            cells=layer.cells,
            cell_out=layer.cell_out,
            cell_in=layer.cell_in,
            warehouse=layer.warehouse,
            gain=layer.gain.to_json(),
            assembly_acc_bits=layer.assembly_acc_bits,
            kernel_requant=layer.kernel_requant.to_json(),
            bias=layer.bias.to_json(),
            acc_bits=layer.acc_bits,
            requant=layer.requant.to_json(),
        )
    return out


# ----------------------------------------------------------------------------------------------
# Parsing and validation. Each helper takes the JSON path of what it reads, for error messages.


def _get(obj: Any, key: str, path: str) -> Any:
    if not isinstance(obj, dict):
        raise IRError(f"{path}: expected an object, got {type(obj).__name__}")
    if key not in obj:
        raise IRError(f"{path}.{key}: missing field" if path else f"{key}: missing field")
    return obj[key]


def _int(obj: Any, key: str, path: str, lo: int | None = None, hi: int | None = None) -> int:
    v = _get(obj, key, path)
    where = f"{path}.{key}" if path else key
    if isinstance(v, bool) or not isinstance(v, int):
        raise IRError(f"{where}: expected an integer, got {v!r}")
    if (lo is not None and v < lo) or (hi is not None and v > hi):
        raise IRError(f"{where}: {v} is outside [{lo}, {hi}]")
    return v


def _bool(obj: Any, key: str, path: str) -> bool:
    v = _get(obj, key, path)
    if not isinstance(v, bool):
        raise IRError(f"{path}.{key}: expected true/false, got {v!r}")
    return v


def _str(obj: Any, key: str, path: str) -> str:
    v = _get(obj, key, path)
    if not isinstance(v, str):
        raise IRError(f"{path}.{key}: expected a string, got {v!r}" if path else f"{key}: expected a string, got {v!r}")
    return v


def _shape(obj: Any, key: str, path: str, ndim: int | tuple[int, ...]) -> tuple[int, ...]:
    v = _get(obj, key, path)
    ndims = (ndim,) if isinstance(ndim, int) else ndim
    if not isinstance(v, list) or len(v) not in ndims or not all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in v):
        raise IRError(f"{path}.{key}: expected a list of {' or '.join(map(str, ndims))} positive integers, got {v!r}")
    return tuple(v)


def _rounding(obj: Any, path: str) -> str:
    r = _str(obj, "rounding", path)
    if r not in ROUNDING_MODES:
        raise IRError(f"{path}.rounding: unsupported rounding mode {r!r} (supported: {', '.join(ROUNDING_MODES)})")
    return r


def _clamp(obj: Any, path: str, bits: int, signed: bool) -> tuple[int, int]:
    v = _get(obj, "clamp", path)
    lo_r, hi_r = int_range(bits, signed)
    if not (isinstance(v, list) and len(v) == 2 and all(isinstance(x, int) and not isinstance(x, bool) for x in v)):
        raise IRError(f"{path}.clamp: expected [low, high] integers, got {v!r}")
    if not lo_r <= v[0] <= v[1] <= hi_r:
        raise IRError(f"{path}.clamp: {v} does not fit a {'signed' if signed else 'unsigned'} {bits}-bit integer [{lo_r}, {hi_r}]")
    return v[0], v[1]


def _tensor(obj: Any, key: str, path: str, shape: tuple[int, ...]) -> IntTensor:
    return _tensor_at(_get(obj, key, path), f"{path}.{key}", shape)


def _tensor_at(t: Any, p: str, shape: tuple[int, ...]) -> IntTensor:
    """The tensor object `t` (JSON path `p`), which must have `shape`."""
    got = _shape(t, "shape", p, len(shape))
    if got != shape:
        raise IRError(f"{p}.shape: expected {list(shape)}, got {list(got)}")
    bits = _int(t, "bits", p, 2, 32)
    scale_exp = _int(t, "scale_exp", p, -64, 64)
    data = _get(t, "data", p)
    if not isinstance(data, list) or not all(isinstance(x, int) and not isinstance(x, bool) for x in data):
        raise IRError(f"{p}.data: expected a flat list of integers")
    if len(data) != int(np.prod(shape)):
        raise IRError(f"{p}.data: expected {int(np.prod(shape))} values for shape {list(shape)}, got {len(data)}")
    arr = np.asarray(data, dtype=np.int64).reshape(shape)
    lo, hi = int_range(bits, True)
    if arr.size and (arr.min() < lo or arr.max() > hi):
        raise IRError(f"{p}.data: values in [{arr.min()}, {arr.max()}] do not fit signed {bits}-bit [{lo}, {hi}]")
    return IntTensor(shape, bits, scale_exp, arr)


def _requant(obj: Any, path: str, acc_scale_exp: int, key: str = "requant") -> Requant | None:
    r = _get(obj, key, path)
    if r is None:
        return None
    p = f"{path}.{key}"
    bits = _int(r, "bits", p, 2, 32)
    signed = _bool(r, "signed", p)
    rq = Requant(
        shift=_int(r, "shift", p, -32, 62),
        bits=bits,
        signed=signed,
        relu=_bool(r, "relu", p),
        out_scale_exp=_int(r, "out_scale_exp", p, -64, 64),
        clamp=_clamp(r, p, bits, signed),
        rounding=_rounding(r, p),
    )
    if rq.shift != rq.out_scale_exp - acc_scale_exp:
        raise IRError(f"{p}.shift: {rq.shift} != out_scale_exp - accumulator scale_exp ({rq.out_scale_exp} - {acc_scale_exp})")
    if rq.relu and rq.clamp[0] < 0:
        raise IRError(f"{p}.clamp: a ReLU output cannot go below 0, got {list(rq.clamp)}")
    return rq


def _mac_common(obj: Any, path: str, w_shape: tuple[int, ...], out_ch: int, in_scale_exp: int) -> tuple[IntTensor, IntTensor, int, Requant | None]:
    weight = _tensor(obj, "weight", path, w_shape)
    bias = _tensor(obj, "bias", path, (out_ch,))
    acc_scale_exp = in_scale_exp + weight.scale_exp
    if bias.scale_exp != acc_scale_exp:
        raise IRError(f"{path}.bias.scale_exp: {bias.scale_exp} != input scale_exp + weight scale_exp ({in_scale_exp} + {weight.scale_exp})")
    acc_bits = _int(obj, "acc_bits", path, 2, 62)
    return weight, bias, acc_bits, _requant(obj, path, acc_scale_exp)


Produced = dict[str, tuple[tuple[int, ...], int]]  # earlier layers' names -> (out_shape, scale_exp), for `add`


def _parse_layer(obj: Any, path: str, in_shape: tuple[int, ...], in_scale_exp: int, warehouses: tuple[IntTensor, ...] = (),
                 produced: Produced | None = None) -> tuple[Layer, int]:
    """Parse one layer given the shape and scale arriving from the previous one (and, for `add`, what the earlier ones produced)."""
    op = _str(obj, "op", path)
    name = _str(obj, "name", path)
    declared = _shape(obj, "in_shape", path, (1, 2, 3))
    if declared != in_shape:
        raise IRError(f"{path}.in_shape: {list(declared)} does not match the previous layer's output {list(in_shape)}")
    if op == "conv1d":
        if len(in_shape) != 2:
            raise IRError(f"{path}.in_shape: conv1d needs (channels, length), got {list(in_shape)}")
        out_shape = _shape(obj, "out_shape", path, 2)
        k, s, pad = _int(obj, "kernel", path, 1), _int(obj, "stride", path, 1), _int(obj, "padding", path, 0)
        length = (in_shape[1] + 2 * pad - k) // s + 1
        if out_shape[1] != length:
            raise IRError(f"{path}.out_shape: length {out_shape[1]} != (L + 2*padding - kernel) // stride + 1 = {length}")
        w, b, acc, rq = _mac_common(obj, path, (out_shape[0], in_shape[0], k), out_shape[0], in_scale_exp)
        layer: Layer = Conv1d(name, in_shape, out_shape, k, s, pad, w, b, acc, rq)
    elif op == "linear":
        out_shape = _shape(obj, "out_shape", path, 1)
        w, b, acc, rq = _mac_common(obj, path, (out_shape[0], int(np.prod(in_shape))), out_shape[0], in_scale_exp)
        layer = Linear(name, in_shape, out_shape, w, b, acc, rq)
    elif op == "maxpool1d":
        if len(in_shape) != 2:
            raise IRError(f"{path}.in_shape: maxpool1d needs (channels, length), got {list(in_shape)}")
        out_shape = _shape(obj, "out_shape", path, 2)
        k, s = _int(obj, "kernel", path, 1), _int(obj, "stride", path, 1)
        expect = (in_shape[0], (in_shape[1] - k) // s + 1)
        if out_shape != expect:
            raise IRError(f"{path}.out_shape: expected {list(expect)}, got {list(out_shape)}")
        layer = MaxPool1d(name, in_shape, out_shape, k, s)
    elif op == "argmax":
        if len(in_shape) != 1:
            raise IRError(f"{path}.in_shape: argmax needs a vector, got {list(in_shape)}")
        out_shape = _shape(obj, "out_shape", path, 1)
        if out_shape != (1,):
            raise IRError(f"{path}.out_shape: argmax produces [1], got {list(out_shape)}")
        layer = Argmax(name, in_shape)
    elif op == "avgpool2d":
        layer = _parse_avgpool2d(obj, path, name, in_shape)
    elif op == "kwconv2d":
        layer = _parse_kwconv2d(obj, path, name, in_shape, in_scale_exp, warehouses)
        return layer, layer.requant.out_scale_exp
    elif op == "shift":
        layer = _parse_shift(obj, path, name, in_shape)
    elif op == "add":
        layer = _parse_add(obj, path, name, in_shape, in_scale_exp, produced or {})
        return layer, layer.requant.out_scale_exp
    else:
        raise IRError(f"{path}.op: unsupported op {op!r} (supported: {', '.join(OPS)})")
    out_scale = in_scale_exp
    if isinstance(layer, MAC_LAYERS):
        out_scale = layer.requant.out_scale_exp if layer.requant else in_scale_exp + layer.weight.scale_exp
    return layer, out_scale


def _parse_shift(obj: Any, path: str, name: str, in_shape: tuple[int, ...]) -> Shift:
    if len(in_shape) != 2:
        raise IRError(f"{path}.in_shape: shift needs (channels, length), got {list(in_shape)}")
    channels, length = in_shape
    offsets = _int_list(obj, "offsets", path, channels)
    if np.any(np.abs(offsets) >= length):
        raise IRError(f"{path}.offsets: every offset must be below the length {length} in magnitude, got {offsets.tolist()}")
    out_shape = _shape(obj, "out_shape", path, 2)
    if out_shape != in_shape:
        raise IRError(f"{path}.out_shape: a shift keeps the shape {list(in_shape)}, got {list(out_shape)}")
    return Shift(name, in_shape, out_shape, tuple(int(o) for o in offsets))  # type: ignore[arg-type]


def _parse_add(obj: Any, path: str, name: str, in_shape: tuple[int, ...], acc_exp: int, produced: Produced) -> Add:
    skip = _str(obj, "skip", path)
    if skip not in produced:
        raise IRError(f"{path}.skip: no earlier layer is named {skip!r}")
    skip_shape, skip_exp = produced[skip]
    if skip_shape != in_shape:
        raise IRError(f"{path}.skip: {skip!r} gives {list(skip_shape)}, the accumulators are {list(in_shape)}")
    out_shape = _shape(obj, "out_shape", path, (1, 2, 3))
    if out_shape != in_shape:
        raise IRError(f"{path}.out_shape: an add keeps the shape {list(in_shape)}, got {list(out_shape)}")
    common = min(acc_exp, skip_exp)
    acc_shift, skip_shift = _int(obj, "acc_shift", path, 0, 62), _int(obj, "skip_shift", path, 0, 62)
    if (acc_shift, skip_shift) != (acc_exp - common, skip_exp - common):
        raise IRError(f"{path}.acc_shift: shifts ({acc_shift}, {skip_shift}) do not align scale_exps {acc_exp} (accumulators) and "
                      f"{skip_exp} ({skip!r}) to {common}: expected ({acc_exp - common}, {skip_exp - common})")
    acc_bits = _int(obj, "acc_bits", path, 2, 62)
    requant = _requant(obj, path, common)
    if requant is None:
        raise IRError(f"{path}.requant: an add must requantise, got null")
    return Add(name, in_shape, out_shape, skip, acc_shift, skip_shift, acc_bits, requant)


def _image_shape(in_shape: tuple[int, ...], path: str, op: str) -> tuple[int, int, int]:
    if len(in_shape) != 3:
        raise IRError(f"{path}.in_shape: {op} needs (channels, height, width), got {list(in_shape)}")
    return in_shape  # type: ignore[return-value]


def _parse_avgpool2d(obj: Any, path: str, name: str, in_shape: tuple[int, ...]) -> AvgPool2d:
    c, h, w = _image_shape(in_shape, path, "avgpool2d")
    k = _int(obj, "kernel", path, 1)
    if not is_pow2(k * k):
        raise IRError(f"{path}.kernel: {k} x {k} is not a power of two, so the mean is not a shift")
    out_shape = _shape(obj, "out_shape", path, 3)
    expect = (c, (h - k) // k + 1, (w - k) // k + 1)
    if out_shape != expect:
        raise IRError(f"{path}.out_shape: expected {list(expect)}, got {list(out_shape)}")
    return AvgPool2d(name, in_shape, out_shape, k)  # type: ignore[arg-type]


def _parse_norm(obj: Any, path: str) -> AttentionNorm:
    n = _get(obj, "norm", path)
    p = f"{path}.norm"
    bits = _int(n, "bits", p, 2, 32)
    return AttentionNorm(_int(n, "eps", p, 1), bits, _int(n, "scale_exp", p, -62, 0), _clamp(n, p, bits, True), _rounding(n, p))


def _sub_linear(obj: Any, key: str, path: str, in_shape: tuple[int, ...], in_scale_exp: int) -> tuple[Linear, int]:
    """An attention FC inside a kwconv2d: a linear layer that must requantise."""
    p = f"{path}.{key}"
    sub = _get(obj, key, path)
    if _str(sub, "op", p) != "linear":
        raise IRError(f"{p}.op: expected 'linear', got {sub['op']!r}")
    layer, scale = _parse_layer(sub, p, in_shape, in_scale_exp)
    if layer.requant is None:  # type: ignore[union-attr]
        raise IRError(f"{p}.requant: an attention FC must requantise, got null")
    return layer, scale  # type: ignore[return-value]


def _parse_kwconv2d(obj: Any, path: str, name: str, in_shape: tuple[int, ...], in_scale_exp: int, warehouses: tuple[IntTensor, ...]) -> KWConv2d:
    c_in, h, w = _image_shape(in_shape, path, "kwconv2d")
    if not is_pow2(h * w):
        raise IRError(f"{path}.in_shape: the global average pool needs H*W a power of two, got {h} x {w}")
    k, pad = _int(obj, "kernel", path, 1), _int(obj, "padding", path, 0)
    out_shape = _shape(obj, "out_shape", path, 3)
    c_out = out_shape[0]
    expect = (c_out, h + 2 * pad - k + 1, w + 2 * pad - k + 1)
    if out_shape != expect:
        raise IRError(f"{path}.out_shape: expected {list(expect)} (stride 1), got {list(out_shape)}")
    gap = _requant(obj, path, in_scale_exp - (h * w).bit_length() + 1, "gap")
    if gap is None or gap.relu:
        raise IRError(f"{path}.gap: expected a requantiser without ReLU")
    fc1, h_scale = _sub_linear(obj, "fc1", path, (c_in,), gap.out_scale_exp)
    fc2, _ = _sub_linear(obj, "fc2", path, fc1.out_shape, h_scale)
    norm = _parse_norm(obj, path)
    mixtures, cells = _int(obj, "mixtures", path, 1), _int(obj, "cells", path, 1)
    cell_out, cell_in = _int(obj, "cell_out", path, 1), _int(obj, "cell_in", path, 1)
    if c_out % cell_out or c_in % cell_in:
        raise IRError(f"{path}.cell_out: cells of {cell_out} x {cell_in} channels do not tile a {c_out} x {c_in} kernel")
    if mixtures != (c_out // cell_out) * (c_in // cell_in):
        raise IRError(f"{path}.mixtures: {mixtures} != (C_out / cell_out) * (C_in / cell_in) = {(c_out // cell_out) * (c_in // cell_in)}")
    if fc2.out_shape != (mixtures * (cells + 1),):
        raise IRError(f"{path}.fc2.out_shape: expected [{mixtures * (cells + 1)}] (mixtures * (cells + 1)), got {list(fc2.out_shape)}")
    index = _int(obj, "warehouse", path, 0)
    if index >= len(warehouses):
        raise IRError(f"{path}.warehouse: index {index} but the file has {len(warehouses)} warehouse(s)")
    store = warehouses[index]
    if store.shape != (cells, cell_out, cell_in, k, k):
        raise IRError(f"{path}.warehouse: warehouses[{index}] has shape {list(store.shape)}, expected {[cells, cell_out, cell_in, k, k]}")
    gain = _tensor(obj, "gain", path, (c_out,))
    assembly_acc_bits = _int(obj, "assembly_acc_bits", path, 2, 62)
    kernel_rq = _requant(obj, path, norm.scale_exp + store.scale_exp + gain.scale_exp, "kernel_requant")
    if kernel_rq is None or kernel_rq.relu or not kernel_rq.signed:
        raise IRError(f"{path}.kernel_requant: expected a signed requantiser without ReLU")
    bias = _tensor(obj, "bias", path, (c_out,))
    acc_exp = in_scale_exp + kernel_rq.out_scale_exp
    if bias.scale_exp != acc_exp:
        raise IRError(f"{path}.bias.scale_exp: {bias.scale_exp} != input scale_exp + kernel scale_exp ({in_scale_exp} + {kernel_rq.out_scale_exp})")
    acc_bits = _int(obj, "acc_bits", path, 2, 62)
    requant = _requant(obj, path, acc_exp)
    if requant is None:
        raise IRError(f"{path}.requant: a kwconv2d must requantise, got null")
    return KWConv2d(name, in_shape, out_shape, k, pad, gap, fc1, fc2, norm, mixtures, cells, cell_out, cell_in, index, store, gain,  # type: ignore[arg-type]
                    assembly_acc_bits, kernel_rq, bias, acc_bits, requant)


def _parse_warehouses(obj: dict[str, Any]) -> tuple[IntTensor, ...]:
    raw = obj.get("warehouses", [])
    if not isinstance(raw, list):
        raise IRError("warehouses: expected a list of tensors")
    return tuple(_tensor_at(t, f"warehouses[{i}]", _shape(t, "shape", f"warehouses[{i}]", 5)) for i, t in enumerate(raw))


def _parse_model(obj: Any) -> IRModel:
    if not isinstance(obj, dict):
        raise IRError(f"expected a JSON object at the top level, got {type(obj).__name__}")
    fmt = obj.get("format")
    if fmt != IR_FORMAT:
        raise IRError(f"format: expected {IR_FORMAT!r}, got {fmt!r} (not a faultedge IR file)")
    version = _int(obj, "version", "")
    if version != IR_VERSION:
        raise IRError(f"version: unsupported IR version {version} (this faultedge reads version {IR_VERSION})")
    classes = _get(obj, "classes", "")
    if not isinstance(classes, list) or not classes or not all(isinstance(c, str) for c in classes):
        raise IRError("classes: expected a non-empty list of class names")
    inp = _get(obj, "input", "")
    bits = _int(inp, "bits", "input", 2, 32)
    signed = _bool(inp, "signed", "input")
    quant = Quantizer(
        shape=_shape(inp, "shape", "input", (1, 2, 3)),
        bits=bits,
        signed=signed,
        scale_exp=_int(inp, "scale_exp", "input", -64, 64),
        clamp=_clamp(inp, "input", bits, signed),
        rounding=_rounding(inp, "input"),
    )
    raw_layers = _get(obj, "layers", "")
    if not isinstance(raw_layers, list) or not raw_layers:
        raise IRError("layers: expected a non-empty list")
    warehouses = _parse_warehouses(obj)
    layers: list[Layer] = []
    shape, scale = quant.shape, quant.scale_exp
    produced: Produced = {}
    for i, raw in enumerate(raw_layers):
        layer, scale = _parse_layer(raw, f"layers[{i}]", shape, scale, warehouses, produced)
        if layer.name in produced:
            raise IRError(f"layers[{i}].name: {layer.name!r} names an earlier layer too")
        raw = bool(layers) and isinstance(layers[-1], MAC_LAYERS) and layers[-1].requant is None
        if raw and not isinstance(layer, (Add, Argmax)):
            raise IRError(f"layers[{i - 1}].requant: only the last conv1d/linear, or one an add requantises, may omit requantisation")
        if isinstance(layer, Add) and not raw:
            raise IRError(f"layers[{i}].op: an add must follow a conv1d/linear that outputs raw accumulators")
        shape = layer.out_shape
        produced[layer.name] = (shape, scale)
        layers.append(layer)
    if not isinstance(layers[-1], Argmax):
        raise IRError(f"layers[{len(layers) - 1}].op: the last layer must be argmax, got {layers[-1].op!r}")
    if layers[-1].in_shape != (len(classes),):
        raise IRError(f"layers[{len(layers) - 1}].in_shape: {list(layers[-1].in_shape)} does not match {len(classes)} classes")
    mac = [l for l in layers if isinstance(l, MAC_LAYERS)]
    if not mac or mac[-1].requant is not None:
        raise IRError("layers: the last conv1d/linear must output raw accumulators (requant null) as the logits")
    last_mac = max(i for i, l in enumerate(layers) if isinstance(l, MAC_LAYERS))
    if any(isinstance(l, Add) for l in layers[last_mac:]):
        raise IRError(f"layers[{last_mac + 1}].op: the logits must be the last conv1d/linear's raw accumulators, not an add")
    out = _get(obj, "output", "")
    out_scale = _int(out, "scale_exp", "output", -64, 64)
    if out_scale != scale:
        raise IRError(f"output.scale_exp: {out_scale} != the logits' accumulator scale_exp {scale}")
    prep = obj.get("preprocessing")
    if prep is not None and not isinstance(prep, dict):
        raise IRError("preprocessing: expected an object or null")
    meta = obj.get("meta", {})
    if not isinstance(meta, dict):
        raise IRError("meta: expected an object")
    frontend = _parse_frontend(obj["frontend"], quant) if obj.get("frontend") is not None else None
    return IRModel(_str(obj, "name", ""), tuple(classes), quant, tuple(layers), out_scale, prep, meta, warehouses, frontend)


def _int_list(obj: Any, key: str, path: str, n: int) -> np.ndarray:
    v = _get(obj, key, path)
    if not isinstance(v, list) or len(v) != n or not all(isinstance(x, int) and not isinstance(x, bool) for x in v):
        raise IRError(f"{path}.{key}: expected a list of {n} integers")
    return np.asarray(v, dtype=np.int64)


def _parse_frontend(fe: Any, quant: Quantizer) -> FrontEnd:
    """The front-end section; it must produce exactly the network's inputs (one per feature, on its range)."""
    p = "frontend"
    window = _int(fe, "window", p, 4, 1 << 20)
    fft, norm = _get(fe, "fft", p), _get(fe, "normalise", p)
    if _int(fft, "radix", f"{p}.fft", 2, 2) != 2 or _str(fft, "rounding", f"{p}.fft") != "floor":
        raise IRError(f"{p}.fft.rounding: the FFT rounds by flooring (floor), got {fft.get('rounding')!r}")
    shifts = _get(fft, "shifts", f"{p}.fft")
    if not isinstance(shifts, list) or not all(isinstance(s, int) and not isinstance(s, bool) for s in shifts):
        raise IRError(f"{p}.fft.shifts: expected a list of integers")
    lsb = _get(fe, "sample_lsb", p)
    if isinstance(lsb, bool) or not isinstance(lsb, (int, float)) or not lsb > 0:
        raise IRError(f"{p}.sample_lsb: expected a positive number, got {lsb!r}")
    n_features = int(np.prod(quant.shape))
    if window // 2 != n_features:
        raise IRError(f"{p}.window: {window} points give {window // 2} bins, but the network takes {n_features} inputs")
    bins = _get(fe, "bins", p)
    if bins != {"first": window // 2, "step": -1, "count": window // 2}:
        raise IRError(f"{p}.bins: the features are bins N/2 down to 1, expected {{'first': {window // 2}, 'step': -1, 'count': {window // 2}}}")
    clamp = _clamp(norm, f"{p}.normalise", quant.bits, quant.signed)
    if clamp != quant.clamp or _rounding(norm, f"{p}.normalise") != "half_even":
        raise IRError(f"{p}.normalise.clamp: {list(clamp)} is not the input range {list(quant.clamp)}")
    return FrontEnd(_int(fe, "sample_bits", p), float(lsb), window, _int(fe, "hop", p, 1), tuple(shifts), _int(fft, "twiddle_bits", f"{p}.fft"),
                    _str(fe, "magnitude", p), _int_list(norm, "offset", f"{p}.normalise", window // 2),
                    _int_list(norm, "multiplier", f"{p}.normalise", window // 2), _int(norm, "shift", f"{p}.normalise", 0, 62), clamp,
                    _str(fe, "features", p) if "features" in fe else "fft")


# Consumers that walk the layers dispatch on the op name; an op they lack is a clear error.
def dispatch(layer: Layer, table: dict[str, Callable[..., Any]], consumer: str) -> Callable[..., Any]:
    try:
        return table[layer.op]
    except KeyError:
        raise IRError(f"{consumer} does not support op {layer.op!r} (layer {layer.name!r}); supported: {', '.join(sorted(table))}") from None
