"""Continuous diagnosis of a sample stream: windows on a hop, smoothed class probabilities, alarms.

The pattern of Edge Impulse's continuous classifier and TensorFlow Lite Micro's command
recogniser: classify a window every `hop` samples, average the last K results, call a result
"unknown" below a confidence threshold, and raise an alarm only when M of the last K hops agree
on one fault, with hysteresis (a quiet period clears it) and suppression (no new alarm event
right after one). Moving a raised alarm to another fault takes more votes than raising it: at
-6 dB a ball fault's first windows split their votes between the three ball classes, so a fast
raise (2 of 4) with a steadier name (3 of 4) met the 5-hop target where 3 of 4 for both did not
(docs/monitor.md). Every decision parameter is an `AlarmSettings` field with a default.

Like runner.py, this file is shipped verbatim into every deployment bundle (as streaming.py
beside run.py), so it needs only numpy, never imports faultedge and stays Python 3.8 compatible.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

UNKNOWN = "unknown"


def default_hop(window: int) -> int:
    """Samples between windows unless told otherwise: a quarter window (each sample is seen 4 times)."""
    return max(1, window // 4)


class StreamError(ValueError):
    """A setting or input the streaming runtime cannot work with; the message says which and why."""


def parse_samples(line: str) -> Optional[np.ndarray]:
    """The numbers of one text line (spaces or commas between them); None if any is not a finite number
    (the caller counts and skips such a line). Empty lines give an empty array."""
    try:
        values = np.array([float(v) for v in line.replace(",", " ").split()], dtype=np.float64)
    except ValueError:
        return None
    return values if np.isfinite(values).all() else None


class Windower:
    """One channel's ring of samples: push any number of samples, get every complete window whose start
    lies on the hop grid (the first window is samples [0, window), the next [hop, hop + window), ...)."""

    def __init__(self, window: int, hop: int) -> None:
        if window < 1 or not 1 <= hop <= window:
            raise StreamError(f"window {window} and hop {hop}: expected 1 <= hop <= window")
        self.window, self.hop = window, hop
        self._buf = np.zeros(2 * window, dtype=np.float64)
        self._n = 0  # valid samples in _buf
        self._next = 0  # the next window's start within _buf
        self.consumed = 0  # samples pushed so far: with `_base`, gives each window's start in the stream
        self._base = 0  # stream index of _buf[0]

    def push(self, samples: np.ndarray) -> List[Tuple[int, np.ndarray]]:
        """(stream index of the window's first sample, a copy of the window) for every window completed."""
        x = np.asarray(samples, dtype=np.float64).reshape(-1)
        out: List[Tuple[int, np.ndarray]] = []
        while len(x):
            room = len(self._buf) - self._n
            if room == 0:  # keep only what a future window can still use
                keep = self._n - self._next
                self._buf[:keep] = self._buf[self._next : self._n]
                self._base += self._next
                self._n, self._next = keep, 0
                room = len(self._buf) - self._n
            take = min(room, len(x))
            self._buf[self._n : self._n + take] = x[:take]
            self._n += take
            self.consumed += take
            x = x[take:]
            while self._next + self.window <= self._n:
                out.append((self._base + self._next, self._buf[self._next : self._next + self.window].copy()))
                self._next += self.hop
        return out


@dataclass(frozen=True)
class AlarmSettings:
    """How per-hop class probabilities become decisions and alarms (`faultedge monitor`'s options)."""

    smooth: int = 4  # K: hops averaged for the reported probabilities, and the vote's length
    agree: int = 2  # M: hops of the last K whose own decision is one fault class to raise an alarm
    move_agree: int = 3  # hops of the last K that move a raised alarm to another fault: a name needs more votes than a raise
    threshold: float = 0.5  # below this probability a hop's decision is "unknown"
    clear: int = 8  # consecutive normal hops that clear an alarm (hysteresis)
    suppress: int = 2  # hops after an alarm event in which no other alarm event is raised

    def __post_init__(self) -> None:
        if self.smooth < 1 or not 1 <= self.agree <= self.smooth:
            raise StreamError(f"agree {self.agree} of smooth {self.smooth}: expected 1 <= agree <= smooth")
        if not 1 <= self.move_agree <= self.smooth:
            raise StreamError(f"move_agree {self.move_agree} of smooth {self.smooth}: expected 1 <= move_agree <= smooth")
        if not 0.0 <= self.threshold < 1.0:
            raise StreamError(f"threshold {self.threshold}: expected a probability in [0, 1)")
        if self.clear < 1 or self.suppress < 0:
            raise StreamError(f"clear {self.clear} must be >= 1 and suppress {self.suppress} >= 0")

    def to_dict(self) -> Dict[str, Any]:
        return asdict(self)


def softmax(logits: np.ndarray) -> np.ndarray:
    z = np.asarray(logits, dtype=np.float64)
    z = np.exp(z - z.max(axis=-1, keepdims=True))
    return z / z.sum(axis=-1, keepdims=True)


class AlarmTracker:
    """One channel's decisions: feed it each hop's class probabilities, get the hop's event and, when
    the alarm state changes, a state event. States: "normal" and "alarm" (with the fault's label)."""

    def __init__(self, channel: str, labels: Sequence[str], normal: str, settings: AlarmSettings = AlarmSettings()) -> None:
        if normal not in labels:
            raise StreamError(f"the normal class {normal!r} is not one of the labels {list(labels)}")
        self.channel, self.labels, self.settings = channel, list(labels), settings
        self.normal = self.labels.index(normal)
        k, c = settings.smooth, len(self.labels)
        self._probs = np.zeros((k, c))  # the last K hops' probabilities, a ring (row hops % K)
        self._votes = np.full(k, -1)  # each hop's own decision: a class index, -1 unknown (and not yet seen)
        self._counts = np.zeros(c + 1, dtype=np.int64)  # votes per class in the ring; the last slot counts -1
        self._counts[-1] = k
        self.state, self.alarm_class = "normal", None  # type: str, Optional[str]
        self._quiet = 0  # consecutive normal hops while in alarm
        self._since_event = settings.suppress  # hops since the last alarm event
        self.hops = 0

    def _decide(self, p: np.ndarray) -> int:
        k = int(p.argmax())
        return k if p[k] >= self.settings.threshold else -1

    def update(self, probs: np.ndarray, sample: int) -> Tuple[Dict[str, Any], Optional[Dict[str, Any]]]:
        """The hop event (always) and the state event (None unless the alarm was raised, moved or cleared).
        Running counts and a ring keep this a few microseconds: it runs for every hop of every channel."""
        s = self.settings
        p = np.asarray(probs, dtype=np.float64).reshape(-1)
        if len(p) != len(self.labels):
            raise StreamError(f"{self.channel}: {len(p)} class probabilities for {len(self.labels)} labels")
        slot = self.hops % s.smooth
        vote = self._decide(p)
        self._counts[self._votes[slot]] -= 1
        self._counts[vote] += 1
        self._votes[slot], self._probs[slot] = vote, p
        self.hops += 1
        smoothed = self._probs.sum(axis=0) / min(self.hops, s.smooth)
        decision = self._decide(smoothed)
        self._since_event += 1
        change = None
        faults = self._counts[:-1].copy()
        faults[self.normal] = 0
        leader = int(faults.argmax())
        need = s.agree if self.alarm_class is None else s.move_agree
        if faults[leader] >= need and self._since_event > s.suppress and self.labels[leader] != self.alarm_class:
            change = self._event("alarm", sample, leader, faults[leader])
            self.state, self.alarm_class, self._quiet, self._since_event = "alarm", self.labels[leader], 0, 0
        elif self.state == "alarm":
            self._quiet = self._quiet + 1 if vote == self.normal else 0
            if self._quiet >= s.clear:
                change = self._event("clear", sample, self.normal, self._quiet)
                self.state, self.alarm_class, self._since_event = "normal", None, 0
        rounded = np.round(smoothed, 4)
        hop = {"type": "hop", "channel": self.channel, "hop": self.hops - 1, "sample": int(sample),
               "class": UNKNOWN if decision < 0 else self.labels[decision], "confidence": float(rounded.max()),
               "probabilities": rounded.tolist(), "state": self.state, "alarm": self.alarm_class}
        return hop, change

    def _event(self, kind: str, sample: int, cls: int, hops: int) -> Dict[str, Any]:
        return {"type": kind, "channel": self.channel, "hop": self.hops - 1, "sample": int(sample), "class": self.labels[cls],
                "previous": self.alarm_class, "hops": int(hops)}
