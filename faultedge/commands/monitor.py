"""`faultedge monitor`: continuous diagnosis of sensor streams with alarms (faultedge.monitor)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from faultedge.edge.streaming import AlarmSettings, StreamError
from faultedge.errors import DataError
from faultedge.families import EXPORTED, STUDENT_NAME
from faultedge.monitor.outputs import EVENTS

if TYPE_CHECKING:
    from faultedge.monitor.board import BoardLink
    from faultedge.runs import RunDir

SERIAL_BAUD = 115200  # text sample lines' default; a board's comes from its build report


def _named(value: str, what: str) -> tuple[tuple[str, ...], str]:
    """NAMES=VALUE or VALUE alone (the channel is then named after it). NAMES is one channel's name, or
    several, comma-separated, for channels interleaved in one stream."""
    name, sep, rest = value.partition("=")
    if not sep:
        return (), value
    return _channels(name, what, value), rest


def _channels(names: str, what: str, value: str) -> tuple[str, ...]:
    out = tuple(n.strip() for n in names.split(","))
    if not all(out):
        raise DataError(f"{what} {value!r}: an empty channel name")
    if len(set(out)) != len(out):
        raise DataError(f"{what} {value!r}: channel names must be unique")
    return out


def _label(names: tuple[str, ...], default: str) -> dict:
    """The source's name and interleaved channels (none: one channel, the source itself)."""
    if len(names) > 1:
        return {"channel": ",".join(names), "channels": names}
    return {"channel": names[0] if names else default}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "monitor",
        help="watch sensor streams: windows on a hop, smoothed classes, alarms as JSON lines",
        description="Classify one or more sample streams continuously: a window every --hop samples (default a quarter "
        "of the run's window), the probabilities averaged over the last --smooth hops, 'unknown' below --threshold, "
        "an alarm when --agree of the last --smooth hops name the same fault (moved to another fault at --move-agree), "
        "cleared after --clear normal hops. "
        "Events are JSON lines (stdout or --out). Sources: --replay (a recording), --stdin, --serial, --board-replies; "
        "each is a channel, NAME=... names it, and A,B=... names the channels interleaved in one stream.",
    )
    p.add_argument("run", help="run directory: its exported ONNX model (onnx back end), its integer IR (golden), its FPGA build (fpga)")
    p.add_argument("--replay", action="append", default=[], metavar="[NAMES=]FILE", help="replay a recording (.mat, .npy, .wav, .csv); repeatable")
    p.add_argument("--stdin", nargs="?", const="stdin", metavar="NAMES", help="raw samples as text lines on standard input")
    p.add_argument("--serial", action="append", default=[], metavar="[NAMES=]PORT", help="text sample lines from a serial port; repeatable")
    p.add_argument("--board-replies", action="append", default=[], metavar="[NAME=]PORT",
                   help="the per-hop replies of a board that samples its own ADC (`faultedge fpga build --source spi`); repeatable")
    p.add_argument("--baud", type=int, help=f"serial baud rate (default: {SERIAL_BAUD} for --serial, the board's build for a board)")
    p.add_argument("--realtime", action="store_true", help="replay at --rate samples per second (default: as fast as possible)")
    p.add_argument("--rate", type=float, default=12000.0, help="the replays' sample rate in Hz (default 12000, CWRU's)")
    p.add_argument("--loops", type=int, default=1, help="replay each recording this many times (default 1)")
    p.add_argument("--backend", choices=("onnx", "golden", "fpga"), default="onnx", help="onnx (default: ONNX Runtime, fp32), golden (the "
                   "integer model from raw samples, what the FPGA computes) or fpga (the board itself, over --port)")
    p.add_argument("--precision", choices=("fp32", "int8"), default="fp32", help="the onnx back end's model")
    p.add_argument("--network", choices=EXPORTED,
                   help=f"which trained network the onnx and golden back ends run (default {STUDENT_NAME}: its ONNX models or "
                   "integer IR; the window and preprocessing are the run's); a board runs its design point's network")
    f = p.add_argument_group("FPGA", "a board built by `faultedge fpga build` (its window, hop and baud come from RUN/fpga/BOARD/report.json)")
    f.add_argument("--port", help="the fpga back end's serial port (the board built with --source uart)")
    f.add_argument("--board", help="the board profile whose build to use (default: the design point's board)")
    f.add_argument("--reply-timeout", type=float, default=1.0, help="seconds a board may stay silent beyond its line time before it is "
                   "reported and its port reopened (default 1)")
    p.add_argument("--hop", type=int, help="samples between windows (default: a quarter of the run's window; a board's own hop)")
    d = AlarmSettings()
    p.add_argument("--smooth", type=int, default=d.smooth, help=f"K: hops averaged and voted over (default {d.smooth})")
    p.add_argument("--agree", type=int, default=d.agree, help=f"M: hops of the last K naming one fault that raise its alarm (default {d.agree})")
    p.add_argument("--move-agree", type=int, default=d.move_agree,
                   help=f"hops of the last K naming another fault that move a raised alarm to it (default {d.move_agree})")
    p.add_argument("--threshold", type=float, default=d.threshold, help=f"a hop below this probability is 'unknown' (default {d.threshold})")
    p.add_argument("--clear", type=int, default=d.clear, help=f"consecutive normal hops that clear an alarm (default {d.clear})")
    p.add_argument("--suppress", type=int, default=d.suppress, help=f"hops after an alarm event with no further alarm event (default {d.suppress})")
    p.add_argument("--events", choices=EVENTS, default="all", help="every hop's event, or alarm changes only")
    p.add_argument("--out", type=Path, help="write the JSON lines here instead of stdout")
    p.add_argument("--mqtt", metavar="HOST[:PORT]", help="also publish to this MQTT broker: events on PREFIX/CHANNEL/events, the alarm "
                   "state retained on PREFIX/CHANNEL/state")
    p.add_argument("--mqtt-prefix", default="faultedge", help="MQTT topic prefix (default faultedge)")
    p.add_argument("--serve", type=int, metavar="PORT", help="serve the live page on http://127.0.0.1:PORT/ (spectrum, probabilities, alarms)")
    p.add_argument("--summary", type=Path, help="write the run's summary (throughput, latency, per channel) as JSON here")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import sys

    from faultedge.monitor.backends import make_backend
    from faultedge.monitor.outputs import JsonLines
    from faultedge.monitor.runtime import Monitor, MonitorSettings, choose_hop
    from faultedge.monitor.sources import Replay, SerialLines, TextLines, read_frames
    from faultedge.runs import RunDir, write_json

    sampled = bool(args.replay or args.stdin or args.serial)
    if not (sampled or args.board_replies):
        raise DataError("give at least one source: --replay FILE, --stdin, --serial PORT or --board-replies PORT")
    if (args.backend == "fpga") != (args.port is not None):
        raise DataError("--backend fpga streams to a board: give its serial port with --port (and --port only with --backend fpga)")
    if args.backend == "fpga" and not sampled:
        raise DataError("--backend fpga classifies the samples of --replay, --stdin or --serial; a board that samples its own ADC is read "
                        "with --board-replies PORT")
    if args.board and not (args.backend == "fpga" or args.board_replies):
        raise DataError("--board names the FPGA build to use: it goes with --backend fpga or --board-replies")
    try:
        alarms = AlarmSettings(smooth=args.smooth, agree=args.agree, move_agree=args.move_agree, threshold=args.threshold, clear=args.clear,
                               suppress=args.suppress)
    except StreamError as exc:
        raise DataError(str(exc)) from None
    run_dir = RunDir(args.run)
    link = _board_link(run_dir, args) if args.backend == "fpga" or args.board_replies else None
    if link is not None and args.network is not None:
        from faultedge.hdl.design import read_design

        built = read_design(run_dir).network
        if args.network != built:
            raise DataError(f"--network {args.network}: the board runs the network of the run's design point, {built} "
                            f"(`faultedge hdl {run_dir.path} --network {args.network} --frontend pipelined` and `faultedge fpga build` "
                            "make one of another)")
    backend = None
    if args.backend == "fpga":
        from faultedge.monitor.board import FpgaBackend

        backend = FpgaBackend(link, args.port, args.baud, args.reply_timeout)
    elif sampled:
        backend = make_backend(args.backend, run_dir, args.precision, network=args.network or STUDENT_NAME)
    window = backend.window if backend else link.window
    hop = choose_hop(args.hop, window, link.hop if link else None)
    sources: list = []
    for value in args.replay:
        names, path = _named(value, "--replay")
        sources.append(Replay(**_label(names, Path(path).stem), samples=read_frames(Path(path), max(len(names), 1)),
                              rate_hz=args.rate, realtime=args.realtime, chunk=hop, loops=args.loops))
    if args.stdin:
        sources.append(TextLines(**_label(_channels(args.stdin, "--stdin", args.stdin), "stdin"), stream=sys.stdin, chunk=hop))
    for value in args.serial:
        names, port = _named(value, "--serial")
        sources.append(SerialLines(**_label(names, Path(port).name), chunk=hop, port=port, baud=args.baud or SERIAL_BAUD))
    for value in args.board_replies:
        from faultedge.monitor.board import BoardReplies

        names, port = _named(value, "--board-replies")
        if len(names) > 1:
            raise DataError(f"--board-replies {value!r}: a board's replies are one channel")
        sources.append(BoardReplies(**_label(names, Path(port).name), link=link, port=port, baud=args.baud, reply_timeout=args.reply_timeout))
    outputs: list = [JsonLines(args.out, args.events)]
    if args.mqtt:
        from faultedge.monitor.mqtt import MqttOutput

        host, _, port = args.mqtt.partition(":")
        if port and not port.isdigit():
            raise DataError(f"--mqtt {args.mqtt}: expected HOST or HOST:PORT")
        outputs.append(MqttOutput(host or "localhost", int(port or 1883), args.mqtt_prefix, args.events))
    monitor = Monitor(backend, sources, outputs, MonitorSettings(hop=hop, alarms=alarms))
    if args.serve is not None:
        from faultedge.monitor.web import LivePage

        page = LivePage(args.serve, monitor.labels)
        monitor.outputs.append(page)
        print(f"live page: {page.url}", file=sys.stderr, flush=True)
    summary = monitor.run()
    if args.summary:
        write_json(args.summary, summary)
    channels = ", ".join(f"{n}: {c['hops']} hops, {c['state']}" + (f" ({c['alarm']})" if c["alarm"] else "") for n, c in summary["channels"].items())
    print(f"{summary['windows']} windows in {summary['seconds']:.2f} s ({summary['windows_per_s']:.0f}/s), "
          f"{summary['alarm_events']} alarm events; {channels}", file=sys.stderr)
    return 0


def _board_link(run_dir: RunDir, args: argparse.Namespace) -> BoardLink:
    import sys

    from faultedge.monitor.board import BoardLink

    link = BoardLink.load(run_dir, args.board)
    if args.baud is not None and args.baud != link.baud:
        print(f"warning: --baud {args.baud}: board {link.board} was built for {link.baud} baud (its report.json)", file=sys.stderr)
    return link
