"""The board tops' UART host (faultedge.fpga.uart) around an accelerator in Amaranth's simulator, for tests:
driven by a test bench (`run_uart`), or behind a pseudo-terminal (`PtyBoard`) so host code opens it with
pyserial as it would a board on /dev/ttyUSB0."""

from __future__ import annotations

import math
import os
import pty
import queue
import select
import threading
import time
import tty

from faultedge.fpga.protocol import IDLE_TIMEOUT_S, Protocol


class Line:
    """Host side of the simulated serial line: bit-banged 8N1 at `divisor` cycles per bit."""

    def __init__(self, ctx, host, divisor: int) -> None:
        self.ctx, self.host, self.div = ctx, host, divisor

    async def send(self, data: bytes) -> None:
        for byte in data:
            for bit in (0, *((byte >> i) & 1 for i in range(8)), 1):
                self.ctx.set(self.host.uart_rx, bit)
                await self.ctx.tick().repeat(self.div)


async def receive(ctx, host, divisor: int, out) -> None:
    """Every byte the host sends, appended to `out` (a list, or anything with `append`)."""
    while True:
        await ctx.negedge(host.uart_tx)
        await ctx.tick().repeat(divisor // 2)
        value = 0
        for i in range(8):
            await ctx.tick().repeat(divisor)
            value |= ctx.get(host.uart_tx) << i
        await ctx.tick().repeat(divisor)
        out.append(value)


def run_uart(host, divisor: int, bench) -> list[int]:
    """Run `bench` (the host's side of the line) against the UART host in Amaranth's simulator; the bytes it sent back."""
    from amaranth.sim import Simulator

    received: list[int] = []
    sim = Simulator(host)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)

    async def listen(ctx):
        await receive(ctx, host, divisor, received)

    sim.add_testbench(listen, background=True)
    sim.run()
    return received


BAUDS = (300, 600, 1200, 2400, 4800, 9600, 19200)
_RESET = object()  # in the simulator's inbox: the line was quiet for longer than IDLE_TIMEOUT_S


class PtyBoard:
    """A board behind a pseudo-terminal. Its line keeps a real board's time: the bytes a host writes take
    10/baud s each on the line, and a line quiet for longer than IDLE_TIMEOUT_S resets the board's stream
    (the simulator then idles past the UART host's `timeout` cycles). `baud` is chosen, once the simulator's
    speed is measured, slow enough that the simulated board keeps ahead of its line (it answers as soon as
    it has the bytes), so a host that answers its replies at once keeps its stream going.

    `samples`: the board samples these itself (as from its ADC) and only replies go to the pseudo-terminal.
    `corrupt`: reply numbers whose checksum byte is flipped on the way out (a noisy line).
    `powered`: False, the board ignores everything until `power_on()` (a board not yet programmed), and its
    ADC starts then (a host that opens the port later would miss the replies before: pyserial flushes on open)."""

    CALIBRATION_CYCLES = 1500
    DRAIN_STEP = 50  # cycles per step while the replies of the last bytes come out

    def __init__(self, host, divisor: int, timeout: int, samples=None, corrupt: tuple[int, ...] = (), powered: bool = True) -> None:
        self.host, self.divisor, self.timeout = host, divisor, timeout
        self.protocol = Protocol.of(host.accel)
        self.samples, self.corrupt = samples, set(corrupt)
        self.powered = threading.Event()
        if powered:
            self.powered.set()
        self.master, self._slave = pty.openpty()
        tty.setraw(self._slave)  # a serial line: no echo, no line editing
        self.port = os.ttyname(self._slave)
        self.baud = 0
        self.line_free = -math.inf  # when the host's last byte has crossed the line (time.monotonic)
        self.replies = 0  # reply frames sent
        self._inbox: queue.Queue = queue.Queue()
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._threads = [threading.Thread(target=self._simulate, daemon=True, name="simulated board")]
        if samples is None:
            self._threads.append(threading.Thread(target=self._read_host, daemon=True, name="pty reader"))

    def __enter__(self) -> "PtyBoard":
        for t in self._threads:
            t.start()
        if not self._ready.wait(60):
            raise RuntimeError("the simulated board did not start")
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(30)
        os.close(self.master)
        os.close(self._slave)

    def power_on(self) -> None:
        self.powered.set()

    def _read_host(self) -> None:
        """The host's bytes, stamped with the line's time: a gap longer than IDLE_TIMEOUT_S resets the stream."""
        wire_end = -math.inf
        while not self._stop.is_set():
            if not select.select([self.master], [], [], 0.05)[0]:
                continue
            data = os.read(self.master, 4096)
            if not self.powered.is_set():
                continue
            now = time.monotonic()
            if now - wire_end > IDLE_TIMEOUT_S:
                self._inbox.put(_RESET)
            wire_end = max(wire_end, now) + len(data) * 10 / self.baud
            self.line_free = wire_end
            self._inbox.put(data)

    def _simulate(self) -> None:
        from amaranth.sim import Simulator

        sim = Simulator(self.host)
        sim.add_clock(1e-6)
        sim.add_testbench(self._feed)
        sim.add_testbench(self._listen, background=True)
        sim.run()

    async def _feed(self, ctx) -> None:
        t0 = time.monotonic()
        await ctx.tick().repeat(self.CALIBRATION_CYCLES)
        bytes_per_s = self.CALIBRATION_CYCLES / (time.monotonic() - t0) / (10 * self.divisor)
        self.baud = max([b for b in BAUDS if b / 10 <= bytes_per_s / 2] or BAUDS[:1])
        self._ready.set()
        line = Line(ctx, self.host, self.divisor)
        if self.samples is not None:
            while not self.powered.wait(0.05):
                if self._stop.is_set():
                    return
            await line.send(self.protocol.encode_samples(self.samples))
        drain = self.timeout - 4 * self.DRAIN_STEP  # idle cycles that let replies out without resetting the stream
        idle = 0
        while not self._stop.is_set():
            if idle < drain:
                try:
                    item = self._inbox.get_nowait()
                except queue.Empty:
                    await ctx.tick().repeat(self.DRAIN_STEP)
                    idle += self.DRAIN_STEP
                    continue
            else:
                try:
                    item = self._inbox.get(timeout=0.05)
                except queue.Empty:
                    continue
            if item is _RESET:
                past = self.timeout + 4 * self.DRAIN_STEP
                await ctx.tick().repeat(max(1, past - idle))
                idle = past
            else:
                await line.send(item)
                idle = 0

    async def _listen(self, ctx) -> None:
        await receive(ctx, self.host, self.divisor, _ToPty(self))


class _ToPty:
    """The board's bytes to the pseudo-terminal, the chosen replies' checksums flipped on the way."""

    def __init__(self, board: PtyBoard) -> None:
        self.board, self.count = board, 0

    def append(self, value: int) -> None:
        b, n = self.board, self.board.protocol.reply_bytes
        if self.count % n == n - 1:
            if self.count // n in b.corrupt:
                value ^= 0x01
            b.replies += 1
        self.count += 1
        os.write(b.master, bytes([value]))
