"""What a simulated system sees and answers: one request, one reply (the server applies the faults)."""

from __future__ import annotations

import dataclasses
import json
from typing import Any


@dataclasses.dataclass
class Request:
    method: str
    path: str  # without the system prefix, e.g. "/api/stats" for /services/api/stats
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-case names
    body: bytes

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default

    def json(self) -> Any:
        try:
            return json.loads(self.body or b"null")
        except ValueError:
            return None


@dataclasses.dataclass
class Reply:
    status: int = 200
    body: bytes | str = b""
    content_type: str = "application/json; charset=utf-8"
    headers: dict[str, str] = dataclasses.field(default_factory=dict)

    @classmethod
    def json(cls, data: Any, status: int = 200) -> Reply:
        return cls(status, json.dumps(data, ensure_ascii=False, separators=(",", ":")))

    @classmethod
    def html(cls, text: str, status: int = 200) -> Reply:
        return cls(status, text, "text/html; charset=utf-8")

    def data(self) -> bytes:
        return self.body.encode("utf-8") if isinstance(self.body, str) else self.body
