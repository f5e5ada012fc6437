"""The front end's figures in pure Python: what the hardware can build, its pipeline depths and its cycle model.

The components (window.py, fft.py, split.py, magnitude.py, normalise.py) are built from these
numbers and the cycle model (faultedge.hdl.cycles) reads them, so the two cannot disagree. Nothing
here imports Amaranth.

A window's path through the pipelined front end, in clock cycles, for a window whose front end
and engine are idle when its last sample arrives (edge 0):

    window buffer   the burst of M pairs may start before the window is complete: `lead(pace)` samples
                    early, so that at one sample every `pace` cycles its pairs never wait for samples
                    and its last pair reaches the FFT WINDOW_START cycles after the last sample
                    (at one sample per clock that saves M - 1 cycles; `lead` is 0 for slow streams)
    FFT (R2SDF)     pair n leaves as output position n after `fft_delay` pipeline steps (maia-hdl's
                    delay: M - 1 in the butterflies' delay lines, 7 per twiddle multiplier, 1 for the
                    exact -i stage); the pipeline is pushed by the next burst or by frames of zeros
    split           its output lags the FFT by M/4 bins at the end of a window: the last quarter of
                    the bit-reversed order completes a pair on every position, two bins each
    magnitude, normalisation, the engine's input memory: fixed register depths
    engine          the 1-D engine's compute cycles (faultedge.hdl.cycles), as for a feature window

The iterative front end (the smallest devices: iCE40 UP5K) runs the same window through sequential parts:

    SPRAM ring      pair 0 reaches the FFT RING_FIRST_PAIR cycles after the last sample, then one pair
                    every 2 cycles (the FFT writes a pair's two parts in turn)
    IterativeFFT    last pair -> last bin: iterative_cycles.window_cycles (one MAC over SPRAM)
    serial magnitude and normalisation: one shared multiplier each, fixed depths (`serial_*` below),
                    each free again well before the FFT's next bin (one every SPLIT job + 1 cycles)

For the fft+envelope features both architectures run each window through the FFT twice (its samples,
then their squares from the squarer, SQUARER_DEPTH registers before the FFT), and the feature blocks
(BLOCKS_DEPTH registers) follow the magnitude. The window's last input is the envelope frame's last
kept bin: bin 1, the split's last, in the pipelined order; bin M/2 in the iterative FFT's order
1 .. M, which is followed by M/2 dropped bins, so the iterative latency ends M/2 bins before its
second frame does.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from faultedge.errors import IRError
from faultedge.hdl.frontend.iterative_cycles import SPLIT, job_cycles, window_cycles
from faultedge.ir.frontend import FINE, MULTIPLIER_BITS, FrontEnd
from faultedge.ir.intmath import bits_for

FRONTENDS = ("none", "pipelined", "iterative")
NO_FRONTEND = "none"
# the parts of each architecture's chain ("module:name" of a component class or function built from the plan)
_FE = "faultedge.hdl.frontend"
COMPONENTS = {
    "pipelined": {"window": f"{_FE}.window:WindowBuffer", "fft": f"{_FE}.fft:PipelinedFFT", "magnitude": f"{_FE}.magnitude:Magnitude",
                  "normalise": f"{_FE}.normalise:Normalise", "squarer": f"{_FE}.squarer:Squarer", "blocks": f"{_FE}.blocks:FeatureBlocks"},
    "iterative": {"window": f"{_FE}.ring:SpramWindowBuffer", "fft": f"{_FE}.iterative:chain_fft", "magnitude": f"{_FE}.magnitude_seq:SerialMagnitude",
                  "normalise": f"{_FE}.normalise_seq:SerialNormalise",
                  "squarer": f"{_FE}.squarer:Squarer", "blocks": f"{_FE}.blocks:FeatureBlocks"},
}
MAX_WINDOW = {"pipelined": 1 << 15, "iterative": 1 << 14}  # the ring of two windows in block RAM; one SPRAM (16K words) per ring half and for the FFT's 2M words
PIECE_BITS = 16  # a serial multiplier's operand pieces: one SB_MAC16 (16 x 16 unsigned) each

# register depths of the components (each component's docstring draws its pipeline), in cycles
WINDOW_START = 3  # last sample written -> pair 0 taken by the FFT (the read issued on the fill count, the RAM, its data registered)
TWIDDLE_DELAY = 7  # maia-hdl's Cmult with its products registered twice (cmult.py)
SPLIT_DEPTH = 8  # split: a pair's last read issued -> its second bin taken (RAM read, the pair's second bin a cycle later, T1..T5, out)
SQRT_EXTRA = 4  # magnitude: inputs registered, the squares (registered twice) and their sum before the one-bit-per-stage square root
NORMALISE_DEPTH = 8  # ROM read, ROM data registered, mag - offset, * multiplier, product registered again, shift, + round bit, clamp
# the iterative chain's depths (each component's docstring draws its schedule)
SQUARER_DEPTH = 4  # fft+envelope: the squarer's registers between the window buffer and the FFT (squarer.py)
BLOCKS_DEPTH = 2  # fft+envelope: the feature blocks' registers between the magnitude and the normalisation (blocks.py)
RING_FIRST_PAIR = 4  # last sample written -> pair 0 taken: read issued, data into the FIFO, pair visible (the FFT writes re), taken
SERIAL_PRODUCT_DRAIN = 2  # a serial sum of products: the last product's operands -> product register -> accumulator
SERIAL_MAGNITUDE_EXTRA = 2  # besides the products (the first issued a cycle after the bin is taken), the drain and the root: hand-over, output
SERIAL_NORMALISE_EXTRA = 7  # besides the products and the drain: ROM word, mag - offset, |d| before; sign, shift, output, taken after


def pieces(width: int) -> list[tuple[int, int]]:
    """An unsigned `width`-bit operand cut into near-equal pieces (low bit, bits) of at most PIECE_BITS."""
    count = -(-width // PIECE_BITS)
    size = -(-width // count)
    return [(lo, min(size, width - lo)) for lo in range(0, width, size)]


def square_terms(width: int) -> list[tuple[int, int, int]]:
    """x**2 of an unsigned `width`-bit x as products of its pieces (i, j, shift): x_i x_j for i <= j, the cross terms twice (one more shift)."""
    ps = pieces(width)
    return [(i, j, ps[i][0] + ps[j][0] + (i != j)) for i in range(len(ps)) for j in range(i, len(ps))]


def product_terms(width_a: int, width_b: int) -> list[tuple[int, int, int]]:
    """a * b of unsigned `width_a`- and `width_b`-bit operands as products of their pieces (i, j, shift)."""
    pa, pb = pieces(width_a), pieces(width_b)
    return [(i, j, pa[i][0] + pb[j][0]) for i in range(len(pa)) for j in range(len(pb))]


@dataclass(frozen=True)
class FrontEndPlan:
    """A front end (faultedge.ir.frontend.FrontEnd) as the hardware builds it."""

    fe: FrontEnd
    architecture: str  # "pipelined" or "iterative"
    memory: str = "spram"  # the iterative front end's single-port memories: "spram" (iCE40) or "bram" (elsewhere, and Amaranth's simulator)

    def component(self, part: str) -> str:
        """The "module:Class" of one part ("window", "fft", "magnitude", "normalise"; fft+envelope: "squarer", "blocks") of the chain."""
        return COMPONENTS[self.architecture][part]

    @property
    def iterative(self) -> bool:
        return self.architecture == "iterative"

    @property
    def envelope(self) -> bool:
        """The fft+envelope features: a second FFT frame per window, of the squared samples."""
        return self.fe.features != "fft"

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
    def root_steps(self) -> int:
        """The serial square root's cycles: two result bits per cycle."""
        return -(-self.magnitude_bits // 2)

    @property
    def square_terms(self) -> list[tuple[int, int, int]]:
        """The serial magnitude's products for re**2 (then the same for im**2), on |re| of spectrum_bits unsigned bits."""
        return square_terms(self.fe.spectrum_bits)

    @property
    def last_envelope_bin(self) -> int:
        """fft+envelope: the bin whose envelope feature ends a window, the last kept bin of the second frame in the
        architecture's bin order (pipelined: the split ends on bin 1; iterative: bins 1 .. M, those above M/2 dropped)."""
        return self.points // 2 if self.iterative else 1

    @property
    def normalise_offsets(self) -> np.ndarray:
        """The normalisation's offsets. fft+envelope: both blocks on the envelope's fine grid, so one datapath serves both
        (the spectrum block's offsets shifted left by FINE; faultedge.hdl.frontend.normalise)."""
        if not self.envelope:
            return self.fe.offset
        half = self.points // 2
        return np.concatenate([self.fe.offset[:half] << FINE, self.fe.offset[half:]])

    @property
    def normalise_value_bits(self) -> int:
        """Width of the value the normalisation subtracts the offset from: a magnitude, or fft+envelope a pair sum aligned to the fine grid."""
        return self.magnitude_bits + 1 + FINE if self.envelope else self.magnitude_bits

    @property
    def normalise_shift(self) -> int:
        """The normalisation's final shift: the IR's, FINE more on the fine grid."""
        return self.fe.shift + (FINE if self.envelope else 0)

    @property
    def offset_bits(self) -> int:
        offsets = self.normalise_offsets
        return bits_for(int(offsets.min()), int(offsets.max()))

    @property
    def difference_bits(self) -> int:
        """Signed width of value - offset."""
        return max(self.offset_bits, self.normalise_value_bits + 1) + 1

    @property
    def normalise_terms(self) -> list[tuple[int, int, int]]:
        """The serial normalisation's products |mag - offset| * multiplier."""
        return product_terms(self.difference_bits, MULTIPLIER_BITS)

    @property
    def magnitude_depth(self) -> int:
        """Cycles from a bin taken to its magnitude taken by the normalisation (which is ready)."""
        blocks = BLOCKS_DEPTH if self.envelope else 0  # fft+envelope: the feature blocks follow
        if self.iterative:
            return 2 * len(self.square_terms) + SERIAL_PRODUCT_DRAIN + self.root_steps + SERIAL_MAGNITUDE_EXTRA + blocks
        return self.sqrt_stages + SQRT_EXTRA + blocks

    @property
    def normalise_depth(self) -> int:
        """Cycles from a magnitude taken to its input taken by the engine's memory."""
        if self.iterative:
            return len(self.normalise_terms) + SERIAL_PRODUCT_DRAIN + SERIAL_NORMALISE_EXTRA
        return NORMALISE_DEPTH

    @property
    def gains_queue(self) -> int:
        """fft+envelope: the gains FIFO's depth. A window's gain waits from its second burst in the squarer until its last
        value is normalised; the FIFO holds the gains of every window the registers and delay lines between them can hold
        (each window fills 2M of those places), and two more, so a full FIFO never stalls the squarer while the window
        the normalisation waits for is still behind it (a deadlock). Two or three windows for real sizes; more for tiny ones.
        The iterative FFT holds one window at a time, so at most one gain waits: two places."""
        if self.iterative:
            return 2
        places = SQUARER_DEPTH + self.fft_delay + self.points + SPLIT_DEPTH + self.magnitude_depth + BLOCKS_DEPTH + NORMALISE_DEPTH
        return 2 + -(-places // (2 * self.points))

    def fft_cycles(self) -> int:
        """Cycles from a burst's first pair taken to the FFT's last output position of that window taken by the split."""
        return self.points - 1 + self.fft_delay

    def split_tail(self) -> int:
        """Cycles from a window's last FFT position taken to its last bin taken by the magnitude: the emitter's final
        read comes M/4 cycles after the last position (two reads per pair in the last block), then SPLIT_DEPTH."""
        return self.points // 4 + SPLIT_DEPTH

    def fft_latency(self) -> int:
        """Cycles from a burst's first pair taken by the FFT to the window's last bin taken by the magnitude (the
        architecture's figure: the pipelined FFT's steps, then the split's lag and depth; the iterative FFT's load of
        a pair every 2 cycles, then its stages and split)."""
        if self.iterative:  # fft+envelope: the second frame's load starts as the first frame's last bin is taken
            return 2 * (self.points - 1) + window_cycles(self.points).latency + (window_cycles(self.points).period if self.envelope else 0)
        return self.fft_cycles() + self.split_tail() + (self.points if self.envelope else 0)  # fft+envelope: the second frame follows

    def lead(self, pace: int) -> int:
        """Samples before a window's last at which its burst starts, when a sample comes every `pace` cycles: the pipelined
        window buffer's rule, (M - 1) >> ceil(log2 pace), so the burst's M pairs take no longer than the missing samples
        (lead * pace <= M - 1) and never wait for one; 0 when pace >= M, and always for the iterative ring."""
        if self.iterative:
            return 0
        return (self.points - 1) >> (pace - 1).bit_length()  # ceil(log2 pace)

    def window_start(self, pace: int = 1) -> int:
        """Cycles from a window's last sample written to its first pair taken by the FFT (front end idle), at one sample every
        `pace` cycles: negative when the burst starts early."""
        squarer = SQUARER_DEPTH if self.envelope else 0
        if self.iterative:
            return RING_FIRST_PAIR + squarer
        return WINDOW_START + squarer - self.lead(pace) * pace

    def fft_period(self) -> int:
        """Cycles per window the FFT needs at the least when windows come back to back (pipelined: one frame of M
        steps, and the split emits M bins in M cycles; iterative: a window's load, stages and split, one after another)."""
        frames = 2 if self.envelope else 1
        return frames * (window_cycles(self.points).period if self.iterative else self.points)

    def busy_after_window(self) -> int:
        """Cycles after a window's last sample until the FFT rests again: pipelined at phase 0 (its burst, then the
        zero frames that push it out), iterative back in its load phase (its last bin taken)."""
        if self.iterative:
            return self.window_start() + self.fft_latency() + 1
        return WINDOW_START + (SQUARER_DEPTH if self.envelope else 0) + (1 + -(-self.fft_delay // self.points)) * self.points + (self.points if self.envelope else 0)

    def latency_to_features(self, pace: int = 1) -> int:
        """Cycles from a window's last sample taken to its last input written into the engine's memory, front end idle, at one
        sample every `pace` cycles (the engine's compute starts there, as from a feature window's last beat)."""
        dropped = self.points // 2 * (job_cycles(SPLIT) + 1) if self.iterative and self.envelope else 0
        return self.window_start(pace) + self.fft_latency() - dropped + self.magnitude_depth + self.normalise_depth

    def figures(self) -> dict:
        common = {"architecture": self.architecture, "features": self.fe.features, "window": self.window, "hop": self.hop, "points": self.points,
                  "sample_bits": self.sample_bits, "spectrum_bits": self.fe.spectrum_bits, "twiddle_bits": self.fe.twiddle_bits,
                  "shifts": list(self.fe.shifts), "ring_samples": self.ring}
        if self.iterative:
            wc = window_cycles(self.points)
            return {**common, "fft_window_cycles": {"load": wc.load, "fft": wc.fft, "split": wc.split, "period": wc.period, "latency": wc.latency},
                    "bin_cycles": job_cycles(SPLIT) + 1, "magnitude_depth": self.magnitude_depth, "normalise_depth": self.normalise_depth,
                    **({"gains_queue": self.gains_queue} if self.envelope else {})}
        return {**common, "fft_delay": self.fft_delay, **({"gains_queue": self.gains_queue} if self.envelope else {})}


def check_frontend(fe: FrontEnd | None, architecture: str, command: str, memory: str = "spram") -> FrontEndPlan:
    """The hardware's refusals, on top of what faultedge.ir.frontend.FrontEnd already refuses."""
    if architecture not in FRONTENDS or architecture == NO_FRONTEND:
        raise IRError(f"frontend: unknown architecture {architecture!r}; choose one of {', '.join(f for f in FRONTENDS if f != NO_FRONTEND)}")
    if fe is None:
        raise IRError(f"the IR has no front end (raw samples -> inputs), so a sample-in accelerator cannot be built: run `{command}` first")
    if fe.window > MAX_WINDOW[architecture]:
        raise IRError(f"frontend.window: {fe.window} samples is more than the {architecture} front end's window buffer holds in hardware "
                      f"({MAX_WINDOW[architecture]})")
    if fe.hop % 2:
        raise IRError(f"frontend.hop: {fe.hop} is odd; the hardware pairs samples (x[2n], x[2n+1]) in one read, so a window must start "
                      "on an even sample: choose an even hop")
    return FrontEndPlan(fe, architecture, memory)
