"""`faultedge monitor`: continuous diagnosis of sensor streams with alarms (faultedge.monitor)."""

from __future__ import annotations

import argparse
from pathlib import Path

from faultedge.errors import DataError
from faultedge.monitor.outputs import EVENTS


def _named(value: str, what: str) -> tuple[str | None, str]:
    """NAME=VALUE, or VALUE alone (the channel is then named after it)."""
    name, sep, rest = value.partition("=")
    if sep and not name:
        raise DataError(f"{what} {value!r}: empty channel name before '='")
    return (name, rest) if sep else (None, value)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "monitor",
        help="watch sensor streams: windows on a hop, smoothed classes, alarms as JSON lines",
        description="Classify one or more sample streams continuously: a window every --hop samples (default a quarter "
        "of the run's window), the probabilities averaged over the last --smooth hops, 'unknown' below --threshold, "
        "and an alarm when --agree of the last --smooth hops name the same fault, cleared after --clear normal hops. "
        "Events are JSON lines (stdout or --out). Sources: --replay (a recording), --stdin, --serial; each is a "
        "channel, NAME=... names it.",
    )
    p.add_argument("run", help="run directory: its exported ONNX model (onnx back end) or its integer IR (golden)")
    p.add_argument("--replay", action="append", default=[], metavar="[NAME=]FILE", help="replay a recording (.mat, .npy, .wav, .csv); repeatable")
    p.add_argument("--stdin", nargs="?", const="stdin", metavar="NAME", help="raw samples as text lines on standard input")
    p.add_argument("--serial", action="append", default=[], metavar="[NAME=]PORT", help="text sample lines from a serial port; repeatable")
    p.add_argument("--baud", type=int, default=115200, help="serial baud rate (default 115200)")
    p.add_argument("--realtime", action="store_true", help="replay at --rate samples per second (default: as fast as possible)")
    p.add_argument("--rate", type=float, default=12000.0, help="the replays' sample rate in Hz (default 12000, CWRU's)")
    p.add_argument("--loops", type=int, default=1, help="replay each recording this many times (default 1)")
    p.add_argument("--backend", choices=("onnx", "golden"), default="onnx", help="onnx (default: ONNX Runtime, fp32) or golden (the "
                   "integer model from raw samples, what the FPGA computes)")
    p.add_argument("--precision", choices=("fp32", "int8"), default="fp32", help="the onnx back end's model")
    p.add_argument("--hop", type=int, help="samples between windows (default: a quarter of the run's window)")
    p.add_argument("--smooth", type=int, default=4, help="K: hops averaged and voted over (default 4)")
    p.add_argument("--agree", type=int, default=3, help="M: hops of the last K naming one fault that raise its alarm (default 3)")
    p.add_argument("--threshold", type=float, default=0.5, help="a hop below this probability is 'unknown' (default 0.5)")
    p.add_argument("--clear", type=int, default=8, help="consecutive normal hops that clear an alarm (default 8)")
    p.add_argument("--suppress", type=int, default=4, help="hops after an alarm event with no further alarm event (default 4)")
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

    from faultedge.edge.streaming import AlarmSettings, StreamError, default_hop
    from faultedge.monitor.backends import make_backend
    from faultedge.monitor.outputs import JsonLines
    from faultedge.monitor.runtime import Monitor, MonitorSettings
    from faultedge.monitor.sources import Replay, SerialLines, TextLines, read_recording
    from faultedge.runs import RunDir, write_json

    if not (args.replay or args.stdin or args.serial):
        raise DataError("give at least one source: --replay FILE, --stdin or --serial PORT")
    try:
        alarms = AlarmSettings(args.smooth, args.agree, args.threshold, args.clear, args.suppress)
    except StreamError as exc:
        raise DataError(str(exc)) from None
    backend = make_backend(args.backend, RunDir(args.run), args.precision)
    hop = args.hop or default_hop(backend.window)
    if not 1 <= hop <= backend.window:
        raise DataError(f"--hop {args.hop}: expected 1..{backend.window} (the run's window)")
    sources = []
    for value in args.replay:
        name, path = _named(value, "--replay")
        sources.append(Replay(name or Path(path).stem, samples=read_recording(Path(path)), rate_hz=args.rate, realtime=args.realtime,
                              chunk=hop, loops=args.loops))
    if args.stdin:
        sources.append(TextLines(args.stdin, stream=sys.stdin, chunk=hop))
    for value in args.serial:
        name, port = _named(value, "--serial")
        sources.append(SerialLines(name or Path(port).name, chunk=hop, port=port, baud=args.baud))
    outputs: list = [JsonLines(args.out, args.events)]
    if args.mqtt:
        from faultedge.monitor.mqtt import MqttOutput

        host, _, port = args.mqtt.partition(":")
        if port and not port.isdigit():
            raise DataError(f"--mqtt {args.mqtt}: expected HOST or HOST:PORT")
        outputs.append(MqttOutput(host or "localhost", int(port or 1883), args.mqtt_prefix, args.events))
    if args.serve is not None:
        from faultedge.monitor.web import LivePage

        page = LivePage(args.serve, backend.labels)
        outputs.append(page)
        print(f"live page: {page.url}", file=sys.stderr, flush=True)
    monitor = Monitor(backend, sources, outputs, MonitorSettings(hop=hop, alarms=alarms))
    summary = monitor.run()
    if args.summary:
        write_json(args.summary, summary)
    channels = ", ".join(f"{n}: {c['hops']} hops, {c['state']}" + (f" ({c['alarm']})" if c["alarm"] else "") for n, c in summary["channels"].items())
    print(f"{summary['windows']} windows in {summary['seconds']:.2f} s ({summary['windows_per_s']:.0f}/s), "
          f"{summary['alarm_events']} alarm events; {channels}", file=sys.stderr)
    return 0
