"""`faultedge monitor` with the FPGA: the real UART host and a sample-in accelerator (the tiny network behind a
16-sample front end, hop 8) in Amaranth's simulator, behind a pseudo-terminal that pyserial opens as it would
/dev/ttyUSB0 (tests/uart_bridge.py). The board's per-hop results must be the golden back end's, bit for bit,
through pauses, a board that is not there yet and a corrupted reply; a board with its own ADC is read for its
replies alone."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from test_frontend_hdl import tiny_sample_ir
from uart_bridge import PtyBoard

from faultedge.cli import main
from faultedge.hdl.artifacts import write_hdl
from faultedge.hdl.design import DesignPoint, read_design
from faultedge.hdl.engines import engine
from faultedge.hdl.frontend.plan import check_frontend
from faultedge.ir.files import FPGA_DIR, HDL_REPORT, VERILOG, Artifacts
from faultedge.ir.frontend import quantize_samples
from faultedge.ir.model import IRModel
from faultedge.monitor.backends import GoldenBackend
from faultedge.monitor.outputs import JsonLines
from faultedge.monitor.runtime import Monitor, MonitorSettings
from faultedge.monitor.sources import Replay
from faultedge.fpga.protocol import IDLE_TIMEOUT_S, Protocol
from faultedge.runs import RunDir, read_json, write_json

DIVISOR, TIMEOUT = 4, 2000  # simulated UART: cycles per bit, idle cycles that end a stream


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> RunDir:
    """A run holding the tiny sample-in IR (classes renamed so one is "normal") and its hdl/ (Verilog, design, report)."""
    ir = dataclasses.replace(tiny_sample_ir(), classes=["normal", "b", "c"])
    run = RunDir(tmp_path_factory.mktemp("board") / "run")
    run.path.mkdir()
    ir.save(run / Artifacts("student", 8).ir)
    write_hdl(run, DesignPoint(lanes=2, frontend="pipelined"))
    return run


def _uart_host(run: RunDir):
    """The board's UART host around the accelerator the run's design point describes (what its bitstream holds)."""
    from faultedge.fpga.uart import UartHost

    design = read_design(run)
    ir = IRModel.load(run / design.artifacts.ir)
    eng = engine(design.engine)
    accel = eng.build_sample_in(eng.planner(ir, design.lanes, design.beat), check_frontend(ir.frontend, design.frontend, "x"))
    return UartHost(accel, DIVISOR, TIMEOUT)


def _build_report(run: RunDir, baud: int, source: dict | None = None, **change) -> Path:
    """RUN/fpga/BOARD/report.json as `faultedge fpga build` writes it, for the simulated board (its figures from hdl/report.json)."""
    hdl = read_json(run / HDL_REPORT)
    proto = Protocol.of({**hdl, **hdl["frontend"]})
    uart = {"baud": baud, "divisor": DIVISOR, **proto.to_json(), "reply_bytes": proto.reply_bytes, **change}
    sha = hashlib.sha256((run / VERILOG).read_text(encoding="utf-8").encode()).hexdigest()
    path = run / FPGA_DIR / read_design(run).board / "report.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json(path, {"board": read_design(run).board, "design": {"verilog_sha256": sha}, "source": source or {"kind": "uart"}, "uart": uart})
    return path


def _signal(n: int, seed: int = 0) -> np.ndarray:
    """Float samples within the front end's range (16-bit at 2**-12): a tone in noise, clipped at full scale."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    return np.clip(4 * np.sin(2 * np.pi * t / 5.3) + 2 * rng.standard_normal(n), -9, 9)


def _golden_events(run: RunDir, x: np.ndarray, tmp_path: Path, channel: str = "motor") -> list[dict]:
    out = tmp_path / "golden.jsonl"
    Monitor(GoldenBackend(run), [Replay(channel, samples=x, chunk=8)], [JsonLines(out)], MonitorSettings(hop=8)).run()
    return [json.loads(line) for line in out.read_text().splitlines()]


class _Monitor:
    """`faultedge monitor` in a subprocess; its stderr collected as it comes."""

    def __init__(self, *args: str, stdin: bool = False) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "faultedge.cli", "monitor", *args], stdin=subprocess.PIPE if stdin else None,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.err: list[str] = []
        self._reader = threading.Thread(target=lambda: self.err.extend(iter(self.proc.stderr.readline, "")), daemon=True)
        self._reader.start()

    def wait_for(self, what, seconds: float = 60) -> None:
        deadline = time.monotonic() + seconds
        while not what():
            assert self.proc.poll() is None, "".join(self.err)
            assert time.monotonic() < deadline, "".join(self.err)
            time.sleep(0.05)

    def end(self, seconds: float = 60) -> str:
        self.proc.wait(seconds)
        self._reader.join(10)
        assert self.proc.returncode == 0, "".join(self.err)
        return "".join(self.err)


def _has_open(pid: int, path: str) -> bool:
    """Whether process `pid` has `path` open (Linux /proc)."""
    fds = Path(f"/proc/{pid}/fd")
    for fd in fds.iterdir():
        try:
            if os.readlink(fd) == path:
                return True
        except OSError:  # closed meanwhile
            pass
    return False


def _lines(x: np.ndarray) -> str:
    return "".join(f"{float(v)!r}\n" for v in x)  # repr: the exact float back


def test_the_fpga_back_end_gives_the_golden_results_bit_for_bit_across_a_pause(tiny_run, tmp_path):
    x = _signal(120)
    host = _uart_host(tiny_run)
    with PtyBoard(host, DIVISOR, TIMEOUT) as board:
        _build_report(tiny_run, board.baud)
        mon = _Monitor(str(tiny_run.path), "--backend", "fpga", "--port", board.port, "--stdin", "motor", "--reply-timeout", "10",
                       "--out", str(tmp_path / "fpga.jsonl"), "--summary", str(tmp_path / "s.json"), stdin=True)
        mon.proc.stdin.write(_lines(x[:64]))
        mon.proc.stdin.flush()
        mon.wait_for(lambda: board.replies == 7)  # (64 - 16) / 8 + 1 windows answered
        time.sleep(max(0.0, board.line_free - time.monotonic() + 4 * IDLE_TIMEOUT_S))  # a pause: the board resets its stream,
        # and the back end starts a new one where it was
        mon.proc.stdin.write(_lines(x[64:]))
        mon.proc.stdin.close()
        err = mon.end()
    got = [json.loads(line) for line in (tmp_path / "fpga.jsonl").read_text().splitlines()]
    want = _golden_events(tiny_run, x, tmp_path)
    assert len([e for e in want if e["type"] == "hop"]) == (120 - 16) // 8 + 1
    assert got == want  # every hop: sample, logits, the window's class, probabilities, decisions
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["backend"].startswith("fpga ulx3s-85f") and summary["hop"] == 8 and summary["window"] == 16
    assert summary["board"]["streams"] >= 2 and summary["board"]["reconnects"] == 0, (summary, err)


def test_a_silent_board_and_a_corrupted_reply_are_reported_and_retried_without_losing_a_window(tiny_run, tmp_path):
    x = _signal(96, seed=1)
    host = _uart_host(tiny_run)
    with PtyBoard(host, DIVISOR, TIMEOUT, powered=False, corrupt=(3,)) as board:
        _build_report(tiny_run, board.baud)
        mon = _Monitor(str(tiny_run.path), "--backend", "fpga", "--port", board.port, "--stdin", "motor", "--reply-timeout", "2",
                       "--out", str(tmp_path / "fpga.jsonl"), "--summary", str(tmp_path / "s.json"), stdin=True)
        mon.proc.stdin.write(_lines(x))
        mon.proc.stdin.close()
        mon.wait_for(lambda: any("no reply from the board" in line for line in mon.err))
        board.power_on()
        err = mon.end()
    assert re.search(r"warning: fpga: /dev/pts/\d+: no reply from the board within [\d.]+ s \(0 of \d+ bytes\): is it programmed", err)
    assert "malformed reply (reply checksum" in err and "retrying in" in err
    got = [json.loads(line) for line in (tmp_path / "fpga.jsonl").read_text().splitlines()]
    assert got == _golden_events(tiny_run, x, tmp_path)
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["board"]["reconnects"] >= 2 and summary["board"]["malformed"] == 1


def test_a_board_with_its_own_adc_is_read_for_its_replies(tiny_run, tmp_path):
    x = _signal(104, seed=2)
    host = _uart_host(tiny_run)
    samples = quantize_samples(IRModel.load(tiny_run / Artifacts("student", 8).ir).frontend, x)  # what its ADC gives
    with PtyBoard(host, DIVISOR, TIMEOUT, samples=samples, powered=False) as board:
        _build_report(tiny_run, board.baud, {"kind": "spi", "rate_hz": 12000.0})
        mon = _Monitor(str(tiny_run.path), "--board-replies", f"motor={board.port}", "--reply-timeout", "30", "--serve", "0",
                       "--out", str(tmp_path / "board.jsonl"), "--summary", str(tmp_path / "s.json"))
        mon.wait_for(lambda: _has_open(mon.proc.pid, board.port))
        board.power_on()  # its ADC starts once the monitor listens
        mon.wait_for(lambda: any(line.startswith("live page: ") for line in mon.err))
        url = next(line for line in mon.err if line.startswith("live page: ")).split()[-1]

        def hops() -> int:
            with urllib.request.urlopen(url + "snapshot", timeout=5) as r:
                return len(json.load(r)["channels"].get("motor", {}).get("probabilities", []))

        mon.wait_for(lambda: hops() == (104 - 16) // 8 + 1)
        mon.proc.send_signal(signal.SIGTERM)
        mon.end()
    got = [json.loads(line) for line in (tmp_path / "board.jsonl").read_text().splitlines()]
    assert got == _golden_events(tiny_run, x, tmp_path)
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["backend"] is None and summary["channels"]["motor"]["malformed_replies"] == 0


def test_a_board_that_does_not_match_the_run_is_refused_before_anything_runs(tiny_run, tmp_path, capsys):
    run = str(tiny_run.path)
    x = tmp_path / "x.npy"
    np.save(x, _signal(64))

    def refused(*args: str) -> str:
        assert main(["monitor", run, *args]) == 2
        return capsys.readouterr().err

    fpga = ("--backend", "fpga", "--port", "/dev/null", "--replay", str(x))
    _build_report(tiny_run, 9600, window=32)
    assert "the board was built for another design than the run's: window 32 (board) != 16 (run)" in refused(*fpga)
    report = _build_report(tiny_run, 9600)
    report.write_text(report.read_text().replace('"verilog_sha256": "', '"verilog_sha256": "0'))
    assert "built from other Verilog than the run's hdl/ holds now" in refused(*fpga)
    _build_report(tiny_run, 9600, source={"kind": "spi", "rate_hz": 12000.0})
    assert "samples its own SPI ADC (built with --source spi)" in refused(*fpga)
    _build_report(tiny_run, 9600)
    assert "takes its samples over the UART (built with --source uart)" in refused("--board-replies", "/dev/null")
    assert "streams one channel to the board" in refused(*fpga, "--replay", f"other={x}")
    assert "the board's accelerator windows its stream every 8 samples" in refused(*fpga, "--hop", "4")
    assert "give its serial port with --port" in refused("--backend", "fpga", "--replay", str(x))
    assert "no build for board icebreaker" in refused(*fpga, "--board", "icebreaker")
