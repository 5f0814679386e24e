"""What every `FakeRune` module shares: error codes and their two wire shapes, Connect
envelopes, open-ended replies, timestamps and the call a handler receives."""

from __future__ import annotations

import json
import queue
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from controldeck.testing._server import RecordedRequest, Reply, json_reply

__all__ = [
    "CODES",
    "Call",
    "Json",
    "RuneError",
    "Stream",
    "StreamReply",
    "Wire",
    "envelope",
    "ok",
    "rfc3339",
    "rfc3339_nano",
]

Json = dict[str, Any]

Wire = Literal["connect", "rest"]

# Connect code name → (gRPC code number, HTTP status) — reference §4, the Connect spec's
# table (identical to grpc-gateway v2's HTTPStatusFromCode; failed_precondition is 400).
CODES: dict[str, tuple[int, int]] = {
    "canceled": (1, 499),
    "unknown": (2, 500),
    "invalid_argument": (3, 400),
    "deadline_exceeded": (4, 504),
    "not_found": (5, 404),
    "already_exists": (6, 409),
    "permission_denied": (7, 403),
    "resource_exhausted": (8, 429),
    "failed_precondition": (9, 400),
    "aborted": (10, 409),
    "out_of_range": (11, 400),
    "unimplemented": (12, 501),
    "internal": (13, 500),
    "unavailable": (14, 503),
    "data_loss": (15, 500),
    "unauthenticated": (16, 401),
}


class RuneError(Exception):
    """A gRPC status a handler answers with; each wire renders it in its own shape."""

    def __init__(self, code: str, message: str) -> None:
        if code not in CODES:
            raise ValueError(f"unknown gRPC code name {code!r}; one of {sorted(CODES)}")
        super().__init__(message)
        self.code = code
        self.message = message

    @property
    def http_status(self) -> int:
        return CODES[self.code][1]

    def connect_body(self) -> Json:
        """The Connect error body: `{"code": "<snake>", "message"}` (message left out when
        empty, as connect-go does)."""
        body: Json = {"code": self.code}
        if self.message:
            body["message"] = self.message
        return body

    def reply(self, wire: Wire) -> Reply:
        """The unary reply: Connect's body with a string code, or grpc-gateway's with the
        numeric code and `details`."""
        if wire == "connect":
            return json_reply(self.http_status, self.connect_body())
        number = CODES[self.code][0]
        return json_reply(
            self.http_status, {"code": number, "message": self.message, "details": []}
        )


def envelope(message: Any, *, end: bool = False) -> bytes:
    """One Connect envelope: flag (0x00 a message, 0x02 the end of the stream), the length
    as 4 big-endian bytes, the JSON."""
    data = json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return bytes([0x02 if end else 0x00]) + len(data).to_bytes(4, "big") + data


def rfc3339(epoch: float) -> str:
    """`2026-01-02T03:04:05Z`: how Rune writes its string timestamps."""
    return datetime.fromtimestamp(int(epoch), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def rfc3339_nano(epoch: float) -> str:
    """`2026-01-02T03:04:05.123456Z`: log line timestamps."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Stream:
    """One open-ended reply: the frames queued for it, None ends it.

    `kind` names what a watch follows (`namespaces`, `services`, `instances`, `scaling`,
    or `logs` for a finite SSE reply); `request` is the parsed watch request.
    """

    def __init__(self, kind: str, request: Json) -> None:
        self.kind = kind
        self.request = request
        self.frames: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self.ended = False
        self.busy = False  # a scaling step is running (its ticks notify the stream again)
        self.last: bytes | None = None  # the last scaling frame sent

    def send(self, frame: bytes) -> None:
        if not self.ended:
            self.frames.put(frame)

    def end(self, frame: bytes | None = None) -> None:
        """Queue a last frame (the end-stream envelope), then the end."""
        if self.ended:
            return
        if frame is not None:
            self.frames.put(frame)
        self.ended = True
        self.frames.put(None)


@dataclass(frozen=True)
class StreamReply(Reply):
    """A 200 whose body is the stream's frames, sent chunked until it ends."""

    stream: Stream | None = None


@dataclass(frozen=True)
class Call:
    """One RPC as a handler sees it, whichever wire it came on.

    Attributes:
        request: The HTTP request.
        body: The request message, parsed (every field present).
        wire: `connect` or `rest`.
        subject: The caller's user row (`Subject`), None on the public RPC.
        token_id: The id of the caller's token, "" on the public RPC.
        path: REST path parameters that are not fields of the message (the namespace of
            an instance action).
    """

    request: RecordedRequest
    body: Json
    wire: Wire
    subject: Json | None = None
    token_id: str = ""
    path: dict[str, str] = field(default_factory=dict)

    @property
    def who(self) -> Json:
        assert self.subject is not None, "RPC registered as public"
        return self.subject


def ok(message: str) -> Json:
    """A `Status` with code 0 and an informational message, as Rune's replies embed."""
    return {"code": 0, "message": message, "details": []}
