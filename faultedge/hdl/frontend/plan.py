"""The front end's figures in pure Python: what the hardware can build, its pipeline depths and its cycle model.

The components (window.py, fft.py, split.py, magnitude.py, normalise.py) are built from these
numbers and the cycle model (faultedge.hdl.cycles) reads them, so the two cannot disagree. Nothing
here imports Amaranth.

A window's path through the pipelined front end, in clock cycles, for a window whose front end
and engine are idle when its last sample arrives (edge 0):

    window buffer   the burst of M pairs starts WINDOW_START cycles later, one pair per cycle
    FFT (R2SDF)     pair n leaves as output position n after `fft_delay` pipeline steps (maia-hdl's
                    delay: M - 1 in the butterflies' delay lines, 6 per twiddle multiplier, 1 for the
                    exact -i stage); the pipeline is pushed by the next burst or by frames of zeros
    split           its output lags the FFT by M/4 bins at the end of a window: the last quarter of
                    the bit-reversed order completes a pair on every position, two bins each
    magnitude, normalisation, the engine's input memory: fixed register depths
    engine          the 1-D engine's compute cycles (faultedge.hdl.cycles), as for a feature window
"""

from __future__ import annotations

from dataclasses import dataclass

from faultedge.errors import IRError
from faultedge.ir.frontend import FrontEnd

FRONTENDS = ("none", "pipelined", "iterative")
NO_FRONTEND = "none"
# the FFT component of each architecture ("module:Class", built from the plan): pairs in, spectrum bins out
FFT_COMPONENTS = {"pipelined": "faultedge.hdl.frontend.fft:PipelinedFFT", "iterative": "faultedge.hdl.frontend.iterative:IterativeFFT"}
MAX_WINDOW = 1 << 15  # the ring buffer holds two windows of samples in block RAM

# register depths of the components (each component's docstring draws its pipeline), in cycles
WINDOW_START = 3  # last sample written -> pair 0 taken by the FFT (the read issued on the fill count, the RAM, its data registered)
TWIDDLE_DELAY = 6  # maia-hdl's Cmult
SPLIT_DEPTH = 7  # split: a pair's last read issued -> its second bin taken (RAM read, the pair's second bin a cycle later, T1..T4, out)
SQRT_EXTRA = 2  # magnitude: the squares and their sum before the one-bit-per-stage square root
NORMALISE_DEPTH = 7  # ROM read, ROM data registered, mag - offset, * multiplier, shift, + round bit, clamp


@dataclass(frozen=True)
class FrontEndPlan:
    """A front end (faultedge.ir.frontend.FrontEnd) as the hardware builds it."""

    fe: FrontEnd
    architecture: str  # "pipelined" or "iterative"

    @property
    def fft_component(self) -> str:
        return FFT_COMPONENTS[self.architecture]

    @property
    def window(self) -> int:
        return self.fe.window

    @property
    def hop(self) -> int:
        return self.fe.hop

    @property
    def points(self) -> int:
        return self.fe.points

    @property
    def sample_bits(self) -> int:
        return self.fe.sample_bits

    @property
    def ring(self) -> int:
        """Samples the window buffer holds: two windows, so a window waits and bursts while the next one arrives."""
        return 2 * self.window

    @property
    def fft_delay(self) -> int:
        """maia-hdl's R2SDF delay from input n to output position n, in pipeline steps (its FFT.delay)."""
        stages = self.fe.stages
        return (self.points - 1) + TWIDDLE_DELAY * max(stages - 2, 0) + (1 if stages >= 2 else 0)

    @property
    def magnitude_bits(self) -> int:
        """Width of floor(sqrt(re**2 + im**2)) for spectrum values of spectrum_bits (unsigned)."""
        return self.fe.spectrum_bits

    @property
    def sqrt_stages(self) -> int:
        """One result bit per register stage of the square root of a (2 * spectrum_bits - 1)-bit sum of squares."""
        return self.magnitude_bits

    @property
    def magnitude_depth(self) -> int:
        return self.sqrt_stages + SQRT_EXTRA

    def fft_cycles(self) -> int:
        """Cycles from a burst's first pair taken to the FFT's last output position of that window taken by the split."""
        return self.points - 1 + self.fft_delay

    def split_tail(self) -> int:
        """Cycles from a window's last FFT position taken to its last bin taken by the magnitude: the emitter's final
        read comes M/4 cycles after the last position (two reads per pair in the last block), then SPLIT_DEPTH."""
        return self.points // 4 + SPLIT_DEPTH

    def fft_latency(self) -> int:
        """Cycles from a burst's first pair taken by the FFT to the window's last bin taken by the magnitude (the
        architecture's figure: the pipelined FFT's steps, then the split's lag and depth)."""
        return self.fft_cycles() + self.split_tail()

    def fft_period(self) -> int:
        """Cycles per window the FFT needs at the least when windows come back to back (pipelined: one frame of M
        steps, and the split emits M bins in M cycles)."""
        return self.points

    def busy_after_window(self) -> int:
        """Cycles after a window's last sample until the FFT rests at phase 0 again (its burst, then the zero frames that push it out)."""
        return WINDOW_START + (1 + -(-self.fft_delay // self.points)) * self.points

    def latency_to_features(self) -> int:
        """Cycles from a window's last sample taken to its last input written into the engine's memory, front end idle
        (the engine's compute starts there, as from a feature window's last beat)."""
        return WINDOW_START + self.fft_latency() + self.magnitude_depth + NORMALISE_DEPTH

    def figures(self) -> dict:
        return {"architecture": self.architecture, "window": self.window, "hop": self.hop, "points": self.points,
                "sample_bits": self.sample_bits, "spectrum_bits": self.fe.spectrum_bits, "twiddle_bits": self.fe.twiddle_bits,
                "shifts": list(self.fe.shifts), "ring_samples": self.ring, "fft_delay": self.fft_delay}


def check_frontend(fe: FrontEnd | None, architecture: str, command: str) -> FrontEndPlan:
    """The hardware's refusals, on top of what faultedge.ir.frontend.FrontEnd already refuses."""
    if architecture not in FRONTENDS or architecture == NO_FRONTEND:
        raise IRError(f"frontend: unknown architecture {architecture!r}; choose one of {', '.join(f for f in FRONTENDS if f != NO_FRONTEND)}")
    if architecture == "iterative":
        raise IRError("frontend 'iterative': the iterative in-memory FFT is not built yet (faultedge/hdl/frontend/iterative.py); "
                      "use 'pipelined'")
    if fe is None:
        raise IRError(f"the IR has no front end (raw samples -> inputs), so a sample-in accelerator cannot be built: run `{command}` first")
    if fe.window > MAX_WINDOW:
        raise IRError(f"frontend.window: {fe.window} samples is more than the window buffer holds in hardware ({MAX_WINDOW})")
    if fe.hop % 2:
        raise IRError(f"frontend.hop: {fe.hop} is odd; the hardware pairs samples (x[2n], x[2n+1]) in one read, so a window must start "
                      "on an even sample: choose an even hop")
    return FrontEndPlan(fe, architecture)
