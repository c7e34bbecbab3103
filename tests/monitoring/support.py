"""Helpers shared by the monitoring tests: a sensor tick, and a scripted webhook receiver."""

from __future__ import annotations

import json
import queue
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from dagster import DagsterInstance, build_sensor_context
from dagster._core.definitions.sensor_definition import SensorExecutionData

from robo_dagster.monitoring.sensor import alerts_sensor

NO_TELEMETRY: Any = {"telemetry": {"enabled": False}}
TOKEN = "T0SECRET/B0SECRET/xoxb-0123456789-SECRET-TOKEN"


def tick(instance: DagsterInstance, cursor: str | None = None) -> SensorExecutionData:
    return alerts_sensor.evaluate_tick(build_sensor_context(instance=instance, cursor=cursor))


@dataclass
class Reply:
    status: int = 200
    body: str = "ok"
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


class WebhookReceiver(ThreadingHTTPServer):
    """Answers each POST with the next scripted reply (200 "ok" once the script is empty)."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.script: queue.Queue[Reply] = queue.Queue()
        self.received: list[Received] = []

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}/services/{TOKEN}"

    def push(self, *replies: Reply) -> None:
        for reply in replies:
            self.script.put(reply)


class _Handler(BaseHTTPRequestHandler):
    server: WebhookReceiver

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("content-length", "0")))
        self.server.received.append(
            Received(
                path=self.path,
                headers={k.lower(): v for k, v in self.headers.items()},
                body=json.loads(raw),
            )
        )
        try:
            reply = self.server.script.get_nowait()
        except queue.Empty:
            reply = Reply()
        payload = reply.body.encode()
        self.send_response(reply.status)
        self.send_header("content-type", "text/plain")
        self.send_header("content-length", str(len(payload)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        pass
