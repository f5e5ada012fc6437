"""The front end in integers: raw samples -> the accelerator's integer inputs, fixed bit for bit.

One window of N = `window` two's-complement samples x becomes the network's input in five steps,
each defined here in numpy int64 (the golden model) and built the same way in hardware:

1. Pairing: the real window is read as M = N/2 complex values z[n] = x[2n] + i x[2n+1] (a real FFT
   of N points is an M-point complex FFT plus a split: half the memory, half the time).
2. FFT: a radix-2 decimation-in-frequency FFT of the M values, on a datapath one bit wider than
   the samples (a guard bit: complex amplitudes then never overflow). Stage s (s = 0 .. log2 M - 1)
   pairs values h = M / 2**(s+1) apart: a' = (a + b) >> shift_s, b' = (a - b) >> shift_s (floor),
   each wrapped to the stage's width (two's complement, as registers do); then every b' is
   multiplied by W_2h^k = round(2**(twiddle_bits-2) * exp(-2 pi i k / 2h)) (numpy's round, half to
   even), the product floored by twiddle_bits - 2 bits and wrapped; the twiddles of the
   second-to-last stage (1 and -i) are exact and the last stage has none. These are the arithmetic
   and widths of maia-hdl's R2SDF pipeline (its numpy model is the reference in the tests), so the
   pipelined and the iterative hardware FFT compute the same integers.
3. Split, for bins k = 1 .. M: with Z[M] = Z[0], A = Z[k] + conj(Z[M-k]), B = Z[k] - conj(Z[M-k]),
   T = B * V_k floored by twiddle_bits - 2 bits, V_k = round(2**(twiddle_bits-2) * -i exp(-2 pi i k / N)),
   and X[k] = (A + T) >> 1 (floor): the spectrum of the real window. T and X are `spectrum_bits`
   wide (two bits wider than Z), which holds them for any input.
4. Magnitude: floor(sqrt(re**2 + im**2)) of bins M, M - 1, ..., 1 (the features' order, as
   faultedge.data.features.fft_magnitude).
5. Normalisation per bin: x = clamp(round_half_even((mag - offset_k) * multiplier_k / 2**shift)),
   clamped to the IR's input range: the float (|X| - mean) / std quantised to the input grid.

The float features are |FFT(x, norm="forward")|; with samples x = s * sample_lsb, one magnitude
LSB is `magnitude_lsb` = sample_lsb * 2**sum(shifts) / N in the same units, which `fit` uses to
turn preprocessing.json's mean and std into offsets and multipliers.

The fft+envelope features (faultedge.data.features) replace step 4 by two blocks of N/4 inputs:
the magnitudes of step 4 summed in pairs (bins N/2 + N/2-1, ..., 2 + 1), then the squared-envelope
spectrum in block floating point: each window gets a gain g = min(GAIN_MAX, sample_bits - 1 -
bit_length(max |s|)) (its peak scaled towards full scale), p = ((s << g)**2) >> (sample_bits - 1), a
non-negative value of the samples' width, goes through steps 1-3 (the same FFT) and its bins 1 ..
N/4 through step 4 (E), and step 5 aligns E to a grid 2**(2 GAIN_MAX) finer than envelope_lsb, where
that block's offsets are: x = clamp(round_half_even(((E << (2 GAIN_MAX - 2g)) - offset_k) *
multiplier_k / 2**(shift + 2 GAIN_MAX))). Without the gain, (s * s) >> 15 and the FFT's dropped bits
left a quiet window's envelope below one LSB (the chip's accuracy fell 7-15 pp). The float
features' mean of a pair is half a sum, and |FFT(x**2 - mean)| equals |FFT(x**2)| at those bins,
so one LSB of the blocks is magnitude_lsb / 2 and envelope_lsb * 2**-2g. Both hardware front ends
compute it (faultedge.hdl.frontend.squarer and .blocks).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from faultedge.data.features import FEATURES, SPEC_VERSIONS
from faultedge.errors import IRError
from faultedge.ir.intmath import int_range, is_pow2, isqrt, round_shift

SAMPLE_BITS = (12, 24)  # the sample widths an ADC front end may have
DEFAULT_SAMPLE_BITS = 16
DEFAULT_TWIDDLE_BITS = 16  # with the +1 bit of the complex multiplier's pre-add: one 18 x 18 multiplier
VALUE_BITS = 17  # the FFT's values grow to this width and no further: with the pre-add, 18 x 18 multipliers
MULTIPLIER_BITS = 17  # unsigned normalisation multipliers: a signed 18-bit operand of one 18 x 18 multiplier
MAGNITUDES = ("sqrt",)
GAIN_MAX = 8  # the envelope block's largest window gain: a window 2**8 below full scale keeps 16 bits of its square
FINE = 2 * GAIN_MAX  # the envelope block's grid: 2**FINE finer than the squared gain-free values (`normalise`)


@dataclass(frozen=True)
class FrontEnd:
    sample_bits: int  # two's complement
    sample_lsb: float  # the float value of one sample LSB (the data's unit, e.g. g)
    window: int  # N samples, a power of two
    hop: int  # samples between window starts
    shifts: tuple[int, ...]  # right shift after each radix-2 stage's butterflies (0 or 1): log2(N/2) of them
    twiddle_bits: int
    magnitude: str
    offset: np.ndarray  # (N/2,) int64, on the magnitude grid
    multiplier: np.ndarray  # (N/2,) int64, unsigned, < 2**MULTIPLIER_BITS
    shift: int
    clamp: tuple[int, int]  # the IR's input range
    features: str = "fft"  # what step 4 makes of the spectrum: faultedge.data.features.FEATURES

    def __post_init__(self) -> None:
        if self.features not in FEATURES:
            raise IRError(f"frontend.features: unsupported {self.features!r} (supported: {', '.join(FEATURES)})")
        lo, hi = SAMPLE_BITS
        if not lo <= self.sample_bits <= hi:
            raise IRError(f"frontend.sample_bits: {self.sample_bits} is outside [{lo}, {hi}]")
        if not (is_pow2(self.window) and self.window >= 8):
            raise IRError(f"frontend.window: {self.window} is not a power of two >= 8 (the FFT is radix 2)")
        if not 1 <= self.hop <= self.window:
            raise IRError(f"frontend.hop: {self.hop} must be between 1 and the window ({self.window})")
        if len(self.shifts) != self.stages or any(s not in (0, 1) for s in self.shifts):
            raise IRError(f"frontend.shifts: expected {self.stages} shifts of 0 or 1 (one per radix-2 stage of the "
                          f"{self.points}-point FFT), got {list(self.shifts)}")
        if not 4 <= self.twiddle_bits <= 18:
            raise IRError(f"frontend.twiddle_bits: {self.twiddle_bits} is outside [4, 18]")
        if self.magnitude not in MAGNITUDES:
            raise IRError(f"frontend.magnitude: unsupported {self.magnitude!r} (supported: {', '.join(MAGNITUDES)})")
        for name, arr in (("offset", self.offset), ("multiplier", self.multiplier)):
            if arr.shape != (self.bins,):
                raise IRError(f"frontend.{name}: expected {self.bins} values (one per bin), got {arr.shape[0] if arr.ndim == 1 else arr.shape}")
        if self.multiplier.size and (self.multiplier.min() < 0 or self.multiplier.max() >= 1 << MULTIPLIER_BITS):
            raise IRError(f"frontend.multiplier: values must lie in [0, 2**{MULTIPLIER_BITS})")
        if not 0 <= self.shift <= 62:
            raise IRError(f"frontend.shift: {self.shift} is outside [0, 62]")

    @property
    def points(self) -> int:
        """M: the complex FFT's size (half the window)."""
        return self.window // 2

    @property
    def stages(self) -> int:
        return self.points.bit_length() - 1

    @property
    def bins(self) -> int:
        return self.window // 2

    @property
    def widths(self) -> tuple[int, ...]:
        """Signed width of the FFT's values after each stage (index 0: the paired samples with their guard bit),
        as maia-hdl's FFT sizes them; the split adds one more bit."""
        w = [self.sample_bits + 1]
        for s in self.shifts:
            w.append(w[-1] + 1 - s)
        return tuple(w)

    @property
    def spectrum_bits(self) -> int:
        """Signed width of the split's T and X (real and imaginary parts): |X| <= 1.21 * 2**width(Z)."""
        return self.widths[-1] + 2

    @property
    def magnitude_lsb(self) -> float:
        """The float |FFT(x, norm="forward")| that one magnitude LSB stands for."""
        return self.sample_lsb * 2.0 ** sum(self.shifts) / self.window

    @property
    def envelope_lsb(self) -> float:
        """The float |FFT(x**2, norm="forward")| that one magnitude LSB of the envelope block stands for."""
        return self.sample_lsb**2 * 2.0 ** (self.sample_bits - 1 + sum(self.shifts)) / self.window

    @property
    def feature_lsb(self) -> np.ndarray:
        """Per input, the float feature (before mean and std) that one LSB of its integer magnitude stands for."""
        if self.features == "fft":
            return np.full(self.bins, self.magnitude_lsb)
        quarter = self.bins // 2
        return np.concatenate([np.full(quarter, self.magnitude_lsb / 2), np.full(self.bins - quarter, self.envelope_lsb)])

    @property
    def sample_range(self) -> tuple[int, int]:
        """Samples are symmetric (the most negative code is clipped), like the inputs."""
        return int_range(self.sample_bits, True, narrow=True)

    def to_json(self) -> dict[str, Any]:
        features = {} if self.features == "fft" else {"features": self.features}  # fft IRs keep their bytes
        return {**features, "sample_bits": self.sample_bits, "sample_lsb": self.sample_lsb, "window": self.window, "hop": self.hop,
                "fft": {"input": "real pairs", "radix": 2, "points": self.points, "shifts": list(self.shifts), "twiddle_bits": self.twiddle_bits,
                        "rounding": "floor"},
                "magnitude": self.magnitude, "bins": {"first": self.bins, "step": -1, "count": self.bins},
                "normalise": {"offset": self.offset.tolist(), "multiplier": self.multiplier.tolist(), "shift": self.shift,
                              "rounding": "half_even", "clamp": list(self.clamp)}}


def twiddles(n: int, count: int, bits: int, quarter: bool = False) -> np.ndarray:
    """round(2**(bits-2) * exp(-2 pi i k / n)) for k < count, times -i if `quarter`: (count, 2) int64 (real, imag)."""
    angle = -2 * np.pi * np.arange(count) / n - (np.pi / 2 if quarter else 0.0)
    scale = 1 << (bits - 2)
    return np.stack([np.round(scale * np.cos(angle)), np.round(scale * np.sin(angle))], axis=-1).astype(np.int64)


def wrap(x: np.ndarray, bits: int) -> np.ndarray:
    """Two's-complement wrap to `bits` (what a register of that width keeps)."""
    half = np.int64(1) << (bits - 1)
    return ((x + half) & ((half << 1) - 1)) - half


def _multiply(re: np.ndarray, im: np.ndarray, tw: np.ndarray, bits: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """(re + i im) * twiddle, floored by bits - 2 and wrapped to `width` (maia-hdl's Cmult then register)."""
    t_re, t_im, drop = tw[..., 0], tw[..., 1], bits - 2
    return wrap((re * t_re - im * t_im) >> drop, width), wrap((im * t_re + re * t_im) >> drop, width)


def fft_points(fe: FrontEnd, re: np.ndarray, im: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The M-point integer FFT of complex rows (R, M): (re, im) int64 (R, M) in natural bin order."""
    m = fe.points
    re, im = np.array(re, dtype=np.int64), np.array(im, dtype=np.int64)
    widths = fe.widths
    for s, shift in enumerate(fe.shifts):
        h = m >> (s + 1)
        w = widths[s + 1]
        re4, im4 = re.reshape(len(re), -1, 2, h), im.reshape(len(im), -1, 2, h)  # (R, blocks, a|b, h)
        a_re, b_re, a_im, b_im = re4[:, :, 0], re4[:, :, 1], im4[:, :, 0], im4[:, :, 1]
        s_re, s_im = wrap((a_re + b_re) >> shift, w), wrap((a_im + b_im) >> shift, w)
        d_re, d_im = wrap((a_re - b_re) >> shift, w), wrap((a_im - b_im) >> shift, w)
        if h == 2:  # W_4^k: 1 and -i, exact
            d_re[..., 1], d_im[..., 1] = d_im[..., 1].copy(), wrap(-d_re[..., 1], w)
        elif h > 2:
            d_re, d_im = _multiply(d_re, d_im, twiddles(2 * h, h, fe.twiddle_bits), fe.twiddle_bits, w)
        re = np.stack([s_re, d_re], axis=2).reshape(len(re), m)
        im = np.stack([s_im, d_im], axis=2).reshape(len(im), m)
    order = bit_reversed(m)  # DIF leaves bin order[j] at position j
    out_re, out_im = np.empty_like(re), np.empty_like(im)
    out_re[:, order], out_im[:, order] = re, im
    return out_re, out_im


def split(fe: FrontEnd, z_re: np.ndarray, z_im: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The real window's spectrum X[k], k = 1 .. M, from the paired FFT Z (R, M): (re, im) (R, M)."""
    m = fe.points
    k = np.arange(1, m + 1)
    zk_re, zk_im = z_re[:, k % m], z_im[:, k % m]
    zc_re, zc_im = z_re[:, m - k], -z_im[:, m - k]  # conj(Z[M-k])
    w = fe.spectrum_bits
    a_re, a_im = zk_re + zc_re, zk_im + zc_im
    b_re, b_im = zk_re - zc_re, zk_im - zc_im
    t_re, t_im = _multiply(b_re, b_im, twiddles(fe.window, m + 1, fe.twiddle_bits, quarter=True)[k], fe.twiddle_bits, w)
    return wrap((a_re + t_re) >> 1, w), wrap((a_im + t_im) >> 1, w)


def bit_reversed(n: int) -> np.ndarray:
    """j -> j with its log2(n) bits reversed."""
    bits = n.bit_length() - 1
    return np.array([int(format(v, f"0{bits}b")[::-1], 2) for v in range(n)]) if bits else np.arange(n)


def spectrum(fe: FrontEnd, samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """X[1 .. N/2] of integer windows (R, N): (re, im) int64 (R, N/2)."""
    x = np.asarray(samples, dtype=np.int64).reshape(-1, fe.window)
    return split(fe, *fft_points(fe, x[:, 0::2], x[:, 1::2]))


def window_gain(fe: FrontEnd, samples: np.ndarray) -> np.ndarray:
    """Per window (R, N), the left shift that brings its peak to full scale (0 for the fft features): (R,) int64."""
    x = np.asarray(samples, dtype=np.int64).reshape(-1, fe.window)
    if fe.features == "fft":
        return np.zeros(len(x), np.int64)
    peak = np.abs(x).max(axis=1)
    bits = np.where(peak > 0, np.floor(np.log2(np.maximum(peak, 1))).astype(np.int64) + 1, 0)  # bit_length
    return np.clip(fe.sample_bits - 1 - bits, 0, GAIN_MAX)


def magnitudes(fe: FrontEnd, samples: np.ndarray) -> np.ndarray:
    """floor(sqrt(re**2 + im**2)) of bins N/2 .. 1 for windows (R, N): (R, N/2) int64; for fft+envelope, those summed in
    pairs, then the squared samples' bins 1 .. N/4 on each window's grid (`window_gain`)."""
    x = np.asarray(samples, dtype=np.int64).reshape(-1, fe.window)
    re, im = spectrum(fe, x)
    mag = isqrt(re[:, ::-1] ** 2 + im[:, ::-1] ** 2)
    if fe.features == "fft":
        return mag
    quarter = fe.bins // 2
    scaled = x << window_gain(fe, x)[:, None]
    p_re, p_im = spectrum(fe, (scaled * scaled) >> (fe.sample_bits - 1))
    envelope = isqrt(p_re[:, :quarter] ** 2 + p_im[:, :quarter] ** 2)
    return np.concatenate([mag[:, 0::2] + mag[:, 1::2], envelope], axis=1)


def feature_values(fe: FrontEnd, samples: np.ndarray) -> np.ndarray:
    """The float features (before mean and std) that the integer magnitudes of windows (R, N) stand for: (R, N/2)."""
    scale = np.ones((len(np.asarray(samples).reshape(-1, fe.window)), fe.bins))
    if fe.features != "fft":
        scale[:, fe.bins // 2 :] = 2.0 ** (-2 * window_gain(fe, samples))[:, None]
    return magnitudes(fe, samples) * fe.feature_lsb * scale


def normalise(fe: FrontEnd, mag: np.ndarray, gain: np.ndarray | None = None) -> np.ndarray:
    """The network's integer inputs of magnitudes (R, N/2); for fft+envelope, `gain` (R,) is each window's `window_gain`."""
    mag = np.asarray(mag, dtype=np.int64)
    if fe.features == "fft":
        return np.clip(round_shift((mag - fe.offset) * fe.multiplier, fe.shift), *fe.clamp)
    if gain is None:
        raise IRError("normalise: the fft+envelope front end needs each window's gain")
    quarter = fe.bins // 2
    spectrum_part = round_shift((mag[:, :quarter] - fe.offset[:quarter]) * fe.multiplier[:quarter], fe.shift)
    aligned = mag[:, quarter:] << (FINE - 2 * np.asarray(gain, dtype=np.int64))[:, None]
    envelope_part = round_shift((aligned - fe.offset[quarter:]) * fe.multiplier[quarter:], fe.shift + FINE)
    return np.clip(np.concatenate([spectrum_part, envelope_part], axis=1), *fe.clamp)


def inputs(fe: FrontEnd, samples: np.ndarray) -> np.ndarray:
    """Raw integer sample windows (R, N) -> the network's integer inputs (R, N/2)."""
    x = np.asarray(samples)
    if not np.issubdtype(x.dtype, np.integer):
        raise IRError(f"samples: the front end takes integers, got dtype {x.dtype} (use quantize_samples for float recordings)")
    if x.ndim != 2 or x.shape[1] != fe.window:
        raise IRError(f"samples: expected windows of shape (R, {fe.window}), got {x.shape}")
    lo, hi = fe.sample_range
    if x.size and (x.min() < lo or x.max() > hi):
        raise IRError(f"samples: values outside the {fe.sample_bits}-bit sample range [{lo}, {hi}]")
    return normalise(fe, magnitudes(fe, x), window_gain(fe, x))


def quantize_samples(fe: FrontEnd, x: np.ndarray) -> np.ndarray:
    """A float recording or windows -> integer samples as the ADC would give them (rounded, clipped to the range)."""
    x = np.asarray(x, dtype=np.float64)
    if not np.all(np.isfinite(x)):
        raise IRError("samples: the recording contains NaN/Inf")
    return np.clip(np.round(x / fe.sample_lsb), *fe.sample_range).astype(np.int64)


def frame(samples: np.ndarray, window: int, hop: int) -> np.ndarray:
    """A 1-D sample stream -> its complete windows (R, window) every `hop` samples (a shorter tail is dropped)."""
    s = np.asarray(samples).reshape(-1)
    if len(s) < window:
        return s[:0].reshape(0, window)
    starts = np.arange(0, len(s) - window + 1, hop)
    return s[starts[:, None] + np.arange(window)[None, :]]


def default_shifts(window: int, sample_bits: int = DEFAULT_SAMPLE_BITS) -> tuple[int, ...]:
    """Stages keep their carry bit until the values are VALUE_BITS wide, then drop one each: as much precision as
    18 x 18 multipliers allow (16-bit samples with their guard bit are already 17 bits wide)."""
    stages = (window // 2).bit_length() - 1
    keep = min(stages, max(0, VALUE_BITS - sample_bits - 1))
    return (0,) * keep + (1,) * (stages - keep)


def full_scale_lsb(peak: float, sample_bits: int) -> float:
    """A power-of-two sample LSB whose full scale covers `peak` (e.g. a recording's largest |value|), as an ADC's range would."""
    if not peak > 0:
        raise IRError("samples: the training windows are all zero, so no sample range can be chosen")
    return 2.0 ** math.ceil(math.log2(peak)) / 2 ** (sample_bits - 1)


def fit(mean: np.ndarray, std: np.ndarray, input_scale_exp: int, clamp: tuple[int, int], sample_bits: int, sample_lsb: float,
        window: int, hop: int, shifts: tuple[int, ...], twiddle_bits: int, features: str = "fft") -> FrontEnd:
    """The integer front end that computes round(((|X| - mean) / std) / 2**input_scale_exp) from samples.

    mean and std (per bin, in the float features' units) come from preprocessing.json. With one
    magnitude LSB worth `c` of |X|: offset_k = round(mean_k / c) and multiplier_k / 2**shift =
    c / (std_k * 2**input_scale_exp), the shift as large as the multipliers' width allows."""
    probe = FrontEnd(sample_bits, sample_lsb, window, hop, tuple(shifts), twiddle_bits, "sqrt", np.zeros(window // 2, np.int64),
                     np.zeros(window // 2, np.int64), 0, clamp, features)
    c = probe.feature_lsb
    gain = c / (np.asarray(std, dtype=np.float64) * 2.0**input_scale_exp)
    shift = max(0, min(62, math.floor(math.log2(((1 << MULTIPLIER_BITS) - 1) / gain.max()))))
    multiplier = np.round(gain * 2.0**shift).astype(np.int64)
    grid = c.copy()
    if features != "fft":  # the envelope block's offsets sit on a grid 2**(2 GAIN_MAX) finer (`normalise`)
        grid[window // 4 :] /= 2.0 ** FINE
    offset = np.round(np.asarray(mean, dtype=np.float64) / grid).astype(np.int64)
    return FrontEnd(sample_bits, sample_lsb, window, hop, tuple(shifts), twiddle_bits, "sqrt", offset, multiplier, shift, clamp, features)


def check_preprocessing(fe: FrontEnd, prep: dict[str, Any], input_scale_exp: int, source: str) -> None:
    """Refuse a front end that is not the one preprocessing.json (`prep`, its dict) gives: the IR's integer front end
    and the float features (ONNX, bundles, the float models) would then compute different inputs. Typically the run
    was retrained after `faultedge quantize`."""
    fix = "the IR is stale: run `faultedge quantize` again"
    features = SPEC_VERSIONS.get(prep.get("version", 1), "")
    if features != fe.features:
        raise IRError(f"{source}: {features or 'unknown'} features, but the IR's front end computes {fe.features}; {fix}")
    window = int(prep.get("window", -1))
    if window != fe.window:
        raise IRError(f"{source}: window {window} samples, but the IR's front end frames {fe.window}; {fix}")
    mean, std = np.asarray(prep.get("mean", []), np.float64), np.asarray(prep.get("std", []), np.float64)
    if mean.shape != (fe.points,) or std.shape != (fe.points,):
        raise IRError(f"{source}: mean/std of {mean.size}/{std.size} bins, but the IR's front end has {fe.points}; {fix}")
    want = fit(mean, std, input_scale_exp, fe.clamp, fe.sample_bits, fe.sample_lsb, fe.window, fe.hop, fe.shifts, fe.twiddle_bits, fe.features)
    for name in ("offset", "multiplier"):
        bad = np.flatnonzero(getattr(want, name) != getattr(fe, name))
        if bad.size:
            raise IRError(f"{source}: its mean/std give other {name}s than the IR's front end ({bad.size} of {fe.points} bins, first "
                          f"feature {bad[0]}); {fix}")
    if want.shift != fe.shift:
        raise IRError(f"{source}: its std gives a normalisation shift of {want.shift}, the IR's front end has {fe.shift}; {fix}")
