"""MQTT output (paho-mqtt): every event on `PREFIX/CHANNEL/events`, and each channel's alarm state
retained on `PREFIX/CHANNEL/state`, so a dashboard that subscribes later still sees it. paho's
network thread reconnects to a broker that went away (with backoff); on every (re)connection the
states are published again, since a restarted broker may have lost its retained messages."""

from __future__ import annotations

import json
import threading
from typing import Any

from faultedge.errors import DataError

TOPIC_PREFIX = "faultedge"


class MqttOutput:
    def __init__(self, host: str = "localhost", port: int = 1883, prefix: str = TOPIC_PREFIX, events: str = "all", qos: int = 1) -> None:
        import paho.mqtt.client as mqtt

        self.prefix, self.events, self.qos = prefix.rstrip("/"), events, qos
        self._states: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self.connections = 0
        self._client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"faultedge-monitor-{id(self):x}")
        self._client.reconnect_delay_set(min_delay=1, max_delay=30)
        self._client.on_connect = self._on_connect
        try:
            self._client.connect(host, port, keepalive=30)
        except OSError as exc:
            raise DataError(f"MQTT broker {host}:{port}: cannot connect ({exc})") from None
        self._client.loop_start()

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        self.connections += 1
        with self._lock:
            states = list(self._states.items())
        for channel, state in states:
            self._publish_state(channel, state)

    def _publish_state(self, channel: str, state: dict[str, Any]) -> None:
        self._last = self._client.publish(f"{self.prefix}/{channel}/state", json.dumps(state), qos=self.qos, retain=True)

    def emit(self, event: dict[str, Any]) -> None:
        channel = event["channel"]
        if event["type"] != "hop":
            state = {"state": "alarm" if event["type"] == "alarm" else "normal", "class": event["class"] if event["type"] == "alarm" else None,
                     "hop": event["hop"], "sample": event["sample"]}
            with self._lock:
                self._states[channel] = state
            self._publish_state(channel, state)
        elif channel not in self._states:  # a channel's first hop: its state is known from then on
            with self._lock:
                self._states[channel] = {"state": "normal", "class": None, "hop": event["hop"], "sample": event["sample"]}
            self._publish_state(channel, self._states[channel])
        if event["type"] != "hop" or self.events == "all":
            self._client.publish(f"{self.prefix}/{channel}/events", json.dumps(event, separators=(",", ":")), qos=0 if event["type"] == "hop" else self.qos)

    def close(self) -> None:
        """Deliver the last state (if a broker is there to take it) before disconnecting."""
        last = getattr(self, "_last", None)
        if last is not None and self._client.is_connected():
            last.wait_for_publish(timeout=5)
        self._client.disconnect()
        self._client.loop_stop()
