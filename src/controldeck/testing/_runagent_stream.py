"""`FakeRunAgent`'s WebSocket: `/api/v1/agents/{id}/run-stream`, frame for frame.

The handler follows the real server's `socket_utils.py` (runagent 0.1.49) and the
captures `ws_*.txt`:

1. accept, read one text message (the start message; kept in `stream_messages`);
2. the pre-start checks, in order — JSON, the three required fields, the tag known, the
   tag ending in `_stream` — each failure one `{"type":"error","detail":...}` frame, then
   close 1003;
3. `{"type":"status","status":"stream_started","invocation_id":...}`, one
   `{"type":"data","content":<structured chunk>}` per chunk, then
   `{"type":"status","status":"stream_completed","total_chunks":N,"execution_time":s,
   "invocation_id":...}` — or, when the agent raises (bad arguments included),
   `{"type": "error", "error": "Streaming error: ..."}` (that one frame with `json.dumps`'
   default separators, the others compact, as the server sends them);
4. the socket then stays open until the client closes it (the server never does).

Every stream that starts is an invocation (`sdk_type` `websocket_stream`). Test plans
(`close_after`, `stall`) end a stream early after a number of server frames: a close frame
with a code, a dropped TCP connection, or silence until the client leaves.
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import json
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from controldeck.testing._runagent_wire import Json, stream_chunk, structured
from controldeck.testing._server import RecordedRequest, Reply
from controldeck.testing._websocket import ServerWebSocket, WebSocketClosedError

if TYPE_CHECKING:
    import threading

    from controldeck.testing.runagent import AgentEntrypoint

__all__ = ["StreamPlan", "StreamRoutes"]

_REQUIRED = ("entrypoint_tag", "input_args", "input_kwargs")
_SAMPLES = 10  # chunks kept in a stream invocation's output_data
_UNSUPPORTED_DATA = 1003


@dataclasses.dataclass(frozen=True)
class StreamPlan:
    """How the next stream ends early: after `after_frames` server frames, `close` (a
    close frame with `code`), `abort` (TCP dropped; `reset` sends a RST) or `stall`
    (nothing more until the client closes)."""

    after_frames: int
    action: str  # "close" | "abort" | "stall"
    code: int = 1000
    reset: bool = False


class _Ended(Exception):
    """The stream ended early: a plan ran, or the client went away."""


class _Session:
    """One stream's sending side: compact JSON frames, counted against the plan."""

    def __init__(self, ws: ServerWebSocket, plan: StreamPlan | None) -> None:
        self.ws = ws
        self.plan = plan
        self.sent = 0

    def start(self) -> None:
        """Run a plan that wants no frame at all (after the start message arrived)."""
        self._check()

    def send(self, frame: Json, *, spaced: bool = False) -> None:
        """Send one frame: `spaced` is `json.dumps`' default separators (the runtime error
        frame); others are Starlette's `send_json` (compact, non-ASCII kept)."""
        if spaced:
            text = json.dumps(frame)
        else:
            text = json.dumps(frame, separators=(",", ":"), ensure_ascii=False)
        try:
            self.ws.send_text(text)
        except WebSocketClosedError:
            raise _Ended from None
        self.sent += 1
        self._check()

    def _check(self) -> None:
        plan = self.plan
        if plan is None or self.sent < plan.after_frames:
            return
        self.plan = None
        if plan.action == "close":
            self.ws.close(plan.code)
        elif plan.action == "abort":
            self.ws.abort(reset=plan.reset)
        else:
            self.ws.wait_closed()
        raise _Ended


class StreamRoutes:
    """The run-stream WebSocket route, mixed into `FakeRunAgent`."""

    agent_id: str
    entrypoints: dict[str, AgentEntrypoint]
    stream_messages: list[str]
    invocations: dict[str, Json]
    _lock: threading.RLock
    _stream_plans: list[StreamPlan]

    if TYPE_CHECKING:

        def _start_invocation(
            self, tag: str, args: Any, kwargs: Any, sdk_type: str, client_info: Json
        ) -> str: ...

        def _finish_invocation(
            self,
            invocation_id: str,
            started: float,
            *,
            output: Any = None,
            error: str | None = None,
            elapsed_ms: float | None = None,
        ) -> None: ...

    # -- test hooks -------------------------------------------------------------------------

    def close_after(self, n_frames: int, code: int | None = None, *, reset: bool = False) -> None:
        """End the next stream after the server sent `n_frames` frames, like a server
        that dies mid-stream.

        Frames count from the first the server sends (`stream_started` is frame 1); with
        0 the stream ends right after the start message arrived. A stream with fewer
        frames is not affected (the plan is used up all the same). Plans queue: each
        stream takes the oldest. The invocation is recorded as failed
        ("WebSocket disconnected").

        Args:
            n_frames: Server frames to send first.
            code: Send a close frame with this code (like 1011); None drops the TCP
                connection without one (the client sees EOF, or a reset with `reset`).
            reset: With `code=None`, end with a TCP reset instead of a clean FIN.

        Raises:
            ValueError: `n_frames` is negative.

        Example:
            >>> fake.close_after(2)           # stream_started + one data frame, then EOF
            >>> fake.close_after(1, 1011)     # stream_started, then close 1011
        """
        if code is None:
            self._plan(StreamPlan(n_frames, "abort", reset=reset))
        else:
            self._plan(StreamPlan(n_frames, "close", code))

    def stall(self, after_frames: int = 0) -> None:
        """Make the next stream go quiet after `after_frames` server frames (0: it sends
        nothing at all), until the client closes or the fake stops — for idle-timeout
        tests. The invocation stays `pending` while stalled, then fails
        ("WebSocket disconnected").

        Raises:
            ValueError: `after_frames` is negative.

        Example:
            >>> fake.stall(1)  # stream_started, then silence
        """
        self._plan(StreamPlan(after_frames, "stall"))

    def _plan(self, plan: StreamPlan) -> None:
        if plan.after_frames < 0:
            raise ValueError(f"the frame count must be 0 or more, got {plan.after_frames}")
        with self._lock:
            self._stream_plans.append(plan)

    # -- the route --------------------------------------------------------------------------

    def websocket_not_found(self, request: RecordedRequest) -> Reply:
        """Starlette's answer to a WebSocket on any other path (another agent id too):
        the handshake rejected with HTTP 403.

        Example:
            >>> fake.websocket_not_found(request).status
            403
        """
        return Reply(403)

    def _run_stream(
        self, ws: ServerWebSocket, request: RecordedRequest, params: dict[str, str]
    ) -> None:
        ws.accept()
        text = ws.recv()
        if not isinstance(text, str):  # the client left, or sent binary (receive_text fails)
            return
        with self._lock:
            self.stream_messages.append(text)
            plan = self._stream_plans.pop(0) if self._stream_plans else None
        session = _Session(ws, plan)
        try:
            session.start()
            entry, args, kwargs = self._stream_request(session, text)
        except _Ended:
            return
        if entry is None:
            return
        self._stream(session, entry, args, kwargs)

    def _stream_request(
        self, session: _Session, text: str
    ) -> tuple[AgentEntrypoint | None, Any, Any]:
        """The pre-start checks; (None, ...) when the stream must not start."""
        try:
            message = json.loads(text)
        except json.JSONDecodeError as exc:
            return self._refuse(session, f"Invalid JSON format: {exc}")
        if not isinstance(message, (dict, list, str)):
            return None, None, None  # `field in message` raises in the server: it just ends
        for field in _REQUIRED:
            if field not in message:
                return self._refuse(session, f"Missing required field: {field}")
        if not isinstance(message, dict):
            return None, None, None  # `message["entrypoint_tag"]` raises in the server
        tag = message["entrypoint_tag"]
        try:
            entry = self.entrypoints.get(tag)
        except TypeError:  # an unhashable tag
            return None, None, None
        if entry is None:
            return self._refuse(session, f"Entrypoint {tag} not found")
        if not tag.endswith("_stream"):
            return self._refuse(
                session,
                f"Entrypoint `{tag}` is not a streaming entrypoint. Use a streaming "
                "entrypoint (ending with '_stream').",
            )
        return entry, message["input_args"], message["input_kwargs"]

    @staticmethod
    def _refuse(session: _Session, detail: str) -> tuple[None, None, None]:
        session.send({"type": "error", "detail": detail})
        session.ws.close(_UNSUPPORTED_DATA)
        return None, None, None

    def _stream(self, session: _Session, entry: AgentEntrypoint, args: Any, kwargs: Any) -> None:
        client_info = {"connection_type": "websocket", "stream_mode": True}
        invocation_id = self._start_invocation(
            entry.tag, args, kwargs, "websocket_stream", client_info
        )
        started = time.perf_counter()
        chunks: Iterator[Any] | None = None
        samples: list[Any] = []
        count = 0
        try:
            session.send(
                {"type": "status", "status": "stream_started", "invocation_id": invocation_id}
            )
            try:
                chunks = _iterate(entry.func, args, kwargs)
                for chunk in chunks:
                    count += 1
                    converted = stream_chunk(chunk)
                    if len(samples) < _SAMPLES:
                        samples.append(converted)
                    session.send({"type": "data", "content": structured(converted)})
            except _Ended:
                raise
            except Exception as exc:
                detail = f"Streaming error: {exc}"
                self._finish_invocation(invocation_id, started, error=detail)
                session.send({"type": "error", "error": detail}, spaced=True)
            else:
                seconds = time.perf_counter() - started
                output = {
                    "stream_completed": True,
                    "total_chunks": count,
                    "execution_type": "streaming",
                    "sample_chunks": samples,
                    "execution_time_seconds": seconds,
                    "chunk_summary": {
                        "total_chunks": count,
                        "stored_samples": len(samples),
                        "stream_type": "websocket",
                    },
                }
                self._complete_stream(invocation_id, started, output, seconds * 1000)
                session.send(
                    {
                        "type": "status",
                        "status": "stream_completed",
                        "total_chunks": count,
                        "execution_time": seconds,
                        "invocation_id": invocation_id,
                    }
                )
            session.ws.wait_closed()  # the server never closes: the client must
        except _Ended:
            self._disconnected(invocation_id, started)
        finally:
            close = getattr(chunks, "close", None)
            if callable(close):
                close()

    def _complete_stream(self, invocation_id: str, started: float, output: Json, ms: float) -> None:
        try:
            stored = json.loads(json.dumps(output))
        except (TypeError, ValueError):  # the server's complete_invocation fails: pending
            return
        self._finish_invocation(invocation_id, started, output=stored, elapsed_ms=ms)

    def _disconnected(self, invocation_id: str, started: float) -> None:
        """The client (or a plan) ended a stream that was still running."""
        with self._lock:
            row = self.invocations.get(invocation_id)
            running = row is not None and row["status"] == "pending"
        if running:
            self._finish_invocation(
                invocation_id, started, error="WebSocket disconnected", elapsed_ms=0
            )


def _iterate(func: Callable[..., Any], args: Any, kwargs: Any) -> Iterator[Any]:
    """A streaming entrypoint's chunks: a generator (or any iterable it returns), or the
    async forms, driven on a private event loop."""
    if inspect.isasyncgenfunction(func):
        agen = func(*args, **kwargs)
        loop = asyncio.new_event_loop()
        try:
            while True:
                try:
                    yield loop.run_until_complete(agen.__anext__())
                except StopAsyncIteration:
                    return
        finally:
            loop.run_until_complete(agen.aclose())
            loop.close()
    elif inspect.iscoroutinefunction(func):
        yield from asyncio.run(func(*args, **kwargs))
    else:
        yield from func(*args, **kwargs)
