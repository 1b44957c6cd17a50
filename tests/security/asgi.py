"""Driving the ASGI app directly (not through the TestClient, which reads a body in full before
sending it and serves one request at a time): what a request consumed and what came back."""

from __future__ import annotations

import json
from collections.abc import MutableMapping
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Answer:
    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    consumed: int = 0  # bytes of the request body the hub asked for

    def json(self) -> Any:
        return json.loads(self.body)

    async def send(self, message: MutableMapping[str, Any]) -> None:
        """The ASGI ``send`` that fills this answer."""
        if message["type"] == "http.response.start":
            self.status = message["status"]
            self.headers = {k.decode(): v.decode() for k, v in message["headers"]}
        elif message["type"] == "http.response.body":
            self.body += message.get("body", b"")


def http_scope(
    method: str, path: str, headers: dict[str, str] | None = None, address: str = "203.0.113.9"
) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()],
        "client": (address, 40000),
        "server": ("testserver", 80),
    }
