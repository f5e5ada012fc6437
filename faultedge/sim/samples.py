"""The raw sample stream `faultedge sim` sends through a sample-in accelerator.

One continuous stream of integer samples (faultedge.ir.frontend.quantize_samples), made of parts:

    head   silence, a full-scale sinusoid and clipped samples (both extremes): the paced windows whose
           latency is measured, and the first full-rate ones
    body   the run's test recordings (the last part of each record, never seen in training), noise-free
           and at -6 dB (seeded), in turn until the stream holds the windows asked for
    tail   streamed under random valid/ready back-pressure on both sides: clipping, full-range random
           samples, a noisy recording (a twentieth of the windows, at least four)

Every window of the stream (faultedge.ir.frontend.frame) is compared with the golden model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from faultedge.data.dataset import DataSpec, load_source
from faultedge.data.noise import add_awgn
from faultedge.data.splits import split_point
from faultedge.errors import RunDirError
from faultedge.ir.frontend import FrontEnd, quantize_samples
from faultedge.runs import RunDir, read_json

NOISY_DB = -6.0
PACED_WINDOWS = 3


@dataclass
class Part:
    kind: str  # "recording", "recording -6 dB", "silent", "full-scale", "clipping", "random"
    samples: np.ndarray  # int64, on the front end's sample grid
    backpressure: bool = False


def test_recordings(run: RunDir) -> list[tuple[str, np.ndarray]]:
    """(name, test part) of every recording of the run's data source: the samples after the training split."""
    config = read_json(run.require("config.json"))
    try:
        spec = DataSpec.from_dict(config["data"])
    except KeyError:
        raise RunDirError(f"{run / 'config.json'}: no data section; run `faultedge train` again") from None
    return [(r.name, r.signal[split_point(r.signal.shape[-1], spec.split.train_fraction):]) for r in load_source(spec)]


def extremes(fe: FrontEnd, windows: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Silence, a full-scale sinusoid, clipping (both extremes, alternating in several patterns) and full-range noise."""
    n = windows * fe.hop + fe.window
    lo, hi = fe.sample_range
    t = np.arange(n)
    clip = np.concatenate([np.full(n // 4, hi), np.full(n // 4, lo), np.where(t[: n // 4] % 2, lo, hi),
                           np.where((t[: n - 3 * (n // 4)] // 2) % 2, lo, hi)])
    return {"silent": np.zeros(n, np.int64), "full-scale": np.round(hi * np.sin(2 * np.pi * 37.5 * t / fe.window)).astype(np.int64),
            "clipping": clip.astype(np.int64), "random": rng.integers(lo, hi + 1, n)}


def stream_parts(fe: FrontEnd, recordings: list[tuple[str, np.ndarray]], windows: int, seed: int = 0) -> list[Part]:
    """The stream's parts for about `windows` windows (at least the head's and the tail's)."""
    rng = np.random.default_rng(seed)
    ext = extremes(fe, 2, rng)
    head = [Part(k, ext[k]) for k in ("silent", "full-scale", "clipping")]
    noisy = quantize_samples(fe, add_awgn(recordings[0][1][None, :], NOISY_DB, rng)[0])[: max(4, windows // 20) * fe.hop + fe.window]
    tail = [Part("clipping", ext["clipping"], True), Part("random", ext["random"], True), Part(f"recording {NOISY_DB:g} dB", noisy, True)]
    have = sum(len(p.samples) for p in head + tail) // fe.hop
    body: list[Part] = []
    draw = 0
    while have < windows:
        for _, signal in recordings:
            if have >= windows:
                break
            x = signal if draw == 0 else add_awgn(signal[None, :], NOISY_DB, rng)[0]
            take = min(len(x), (windows - have) * fe.hop + fe.window)
            body.append(Part("recording" if draw == 0 else f"recording {NOISY_DB:g} dB", quantize_samples(fe, x[:take])))
            have += take // fe.hop
        draw += 1
    return head + body + tail
