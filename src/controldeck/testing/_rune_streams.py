"""`FakeRune`'s streams: Connect watch streams and the REST gateway's SSE logs.

A watch first replays the current objects as `EVENT_TYPE_ADDED`, then sends every change
(`MODIFIED`, `DELETED`) while it is open, and ends with the end-of-stream envelope `{}`
when the fake stops or `end_watches()` is called (with an error there, or when
`fail_watch` is set). WatchScaling sends a `ScalingStatusResponse` per step until
`complete`, then ends.

Logs are lines kept per `(namespace, target)`, a target being an instance (its name) or
anything a test names; a service's logs are its own lines and its instances'. Every
instance starts with a few lines. The SSE reply sends each line as one event whose data is
a `LogResponse` (`event: log`, `event: stderr` for stderr lines, or the event a test
gave), then ends cleanly — with `follow=true` too.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from controldeck.testing._rune_proto import emit
from controldeck.testing._rune_state import State, instance_number, matches, namespace_of
from controldeck.testing._rune_wire import Json, RuneError, Stream, envelope, ok, rfc3339_nano

__all__ = ["StreamRPCs", "end_stream", "parse_since"]

_WATCH = {
    "namespaces": ("WatchNamespacesResponse", "namespace"),
    "services": ("WatchServicesResponse", "service"),
    "instances": ("WatchInstancesResponse", "instance"),
}
_DURATION = re.compile(r"(?:(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h))+")
_UNIT = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_PRIVATE = ("time", "seq", "event")  # kept with a stored line, not sent
_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def end_stream(error: tuple[str, str] | RuneError | None = None) -> bytes:
    """The end-of-stream envelope: `{}`, or `{"error": {"code", "message"}}`."""
    if error is None:
        return envelope({}, end=True)
    code, message = (error.code, error.message) if isinstance(error, RuneError) else error
    return envelope({"error": {"code": code, "message": message}}, end=True)


def parse_since(value: str, now: float) -> float:
    """`since=`: an RFC 3339 time, or a Go duration back from now (`10m`, `1h30m`)."""
    if _DURATION.fullmatch(value):
        return now - sum(float(n) * _SECONDS[u] for n, u in _UNIT.findall(value))
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise RuneError(
            "invalid_argument", f"invalid since {value!r}: want RFC 3339 or a duration like 10m"
        ) from None


class StreamRPCs(State):
    """Watch subscriptions and log replies."""

    _closing: bool
    _fail_watch: tuple[str, str] | None

    # -- watches ------------------------------------------------------------------------------

    def _notify(self, kind: str, event: str, obj: Json) -> None:
        for stream in list(self._streams):
            if stream.kind == kind and self._wants(stream, obj):
                stream.send(self._event(kind, event, obj))
            elif stream.kind == "scaling" and kind in ("services", "instances"):
                self._advance_scaling(stream)

    @staticmethod
    def _event(kind: str, event: str, obj: Json) -> bytes:
        message, key = _WATCH[kind]
        return envelope(emit(message, {key: obj, "eventType": event, "status": ok("")}))

    def _wants(self, stream: Stream, obj: Json) -> bool:
        req = stream.request
        if stream.kind == "namespaces":
            return matches(obj, req["labelSelector"], req["fieldSelector"])
        ns = namespace_of(req["namespace"])
        if ns != "*" and obj["namespace"] != ns:
            return False
        if stream.kind == "services":
            return matches(obj, req["labelSelector"], req["fieldSelector"])
        if req["serviceId"] not in ("", obj["serviceId"], obj["serviceName"]):
            return False
        service = self.services.get((obj["namespace"], obj["serviceName"])) or {}
        labelled = {**obj, "labels": service.get("labels") or {}}
        return matches(labelled, req["labelSelector"], req["fieldSelector"])

    def _current(self, kind: str) -> Iterable[Json]:
        if kind == "namespaces":
            return list(self.namespaces.values())
        if kind == "services":
            return list(self.services.values())
        return sorted(
            self.instances.values(), key=lambda i: (i["namespace"], i["serviceName"],
                                                    instance_number(i))
        )  # fmt: skip

    def _open_watch(self, kind: str, request: Json) -> Stream:
        """A new watch: the replay (or the first scaling step) is queued; errors in the
        request raise `RuneError` (the caller ends the stream with it)."""
        stream = Stream(kind, request)
        if kind == "scaling":
            name, ns = request["serviceName"], namespace_of(request["namespace"])
            if not name:
                raise RuneError("invalid_argument", "service name is required")
            if (ns, name) not in self.services:
                raise RuneError("not_found", f"service not found: {ns}/{name}")
        if self._fail_watch is not None:
            if kind != "scaling":
                self._replay(stream)
            stream.end(end_stream(self._fail_watch))
            return stream
        if self._closing:
            stream.end(end_stream())
            return stream
        self._streams.append(stream)
        if kind == "scaling":
            self._advance_scaling(stream)
        else:
            self._replay(stream)
        return stream

    def _replay(self, stream: Stream) -> None:
        for obj in self._current(stream.kind):
            if self._wants(stream, obj):
                stream.send(self._event(stream.kind, "EVENT_TYPE_ADDED", obj))

    def _advance_scaling(self, stream: Stream) -> None:
        """Send the scaling progress when it changed; step starting instances until the
        target is reached (then send the complete status twice, as the server does after
        two stable checks, and end), or until nothing is starting (then wait for the next
        change). A target of 0 means scaling to zero."""
        if stream.ended or stream.busy:
            return
        stream.busy = True
        try:
            req = stream.request
            ns = namespace_of(req["namespace"])
            while True:
                service = self.services.get((ns, req["serviceName"]))
                if service is None:
                    error = RuneError("not_found", f"service not found: {ns}/{req['serviceName']}")
                    self._finish(stream, end_stream(error))
                    return
                status = self._scaling_status(service, req["targetScale"])
                frame = envelope(emit("ScalingStatusResponse", status))
                if status["complete"]:
                    stream.send(frame)
                    stream.send(frame)
                    self._finish(stream, end_stream())
                    return
                if frame != stream.last:
                    stream.last = frame
                    stream.send(frame)
                if not status["pendingInstances"]:
                    return
                self._tick(service)
        finally:
            stream.busy = False

    def _finish(self, stream: Stream, frame: bytes) -> None:
        stream.end(frame)
        if stream in self._streams:
            self._streams.remove(stream)

    def _detach(self, stream: Stream) -> None:
        """The writer is done with a stream (it ended, or the client went away)."""
        with self._lock:
            stream.ended = True
            if stream in self._streams:
                self._streams.remove(stream)

    def _end_watches(self, error: tuple[str, str] | None) -> int:
        with self._lock:
            open_streams, self._streams = self._streams, []
            for stream in open_streams:
                stream.end(end_stream(error))
        return len(open_streams)

    # -- logs ---------------------------------------------------------------------------------

    def _log_target(self, ns: str, target: str) -> list[Json]:
        """The lines of a target, oldest first.

        Raises:
            RuneError: `not_found` — no service, instance or stored lines by that name.
        """
        service = self.services.get((ns, target))
        if service is not None:
            lines = list(self.logs.get((ns, target), ()))
            for instance in self._service_instances(service):
                lines.extend(self.logs.get((ns, instance["name"]), ()))
            return sorted(lines, key=lambda line: (line["time"], line["seq"]))
        for instance in self.instances.values():
            if instance["namespace"] == ns and target in (instance["name"], instance["id"]):
                return list(self.logs.get((ns, instance["name"]), ()))
        if (ns, target) in self.logs:
            return list(self.logs[(ns, target)])
        raise RuneError("not_found", f"log target not found: {ns}/{target}")

    def _log_frames(self, ns: str, target: str, options: Json) -> list[bytes]:
        """The SSE body of a log request, one frame per event."""
        lines = self._log_target(ns, target)
        if options["since"]:
            cutoff = parse_since(options["since"], self._now())
            lines = [line for line in lines if line["time"] >= cutoff]
        if options["tail"] > 0:
            lines = lines[-options["tail"] :]
        frames = [f": logs of {ns}/{target}\n\n".encode()]
        for number, line in enumerate(lines, 1):
            message: dict[str, Any] = {k: v for k, v in line.items() if k not in _PRIVATE}
            message["timestamp"] = rfc3339_nano(line["time"]) if options["timestamps"] else ""
            data = json.dumps(emit("LogResponse", message), separators=(",", ":"))
            name = line.get("event") or ("stderr" if line["stream"] == "stderr" else "log")
            frames.append(f"id: {number}\nevent: {name}\ndata: {data}\n\n".encode())
        if options["follow"]:
            frames.append(b": end of the lines; the fake does not follow\nevent: heartbeat\n\n")
        return frames
