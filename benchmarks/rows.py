"""Every row of `make bench`. Add a row: one function under `@row(...)` (benchmarks/README.md).

Each row checks, outside the timed part, that both sides did the real work (the item
count, the decoded value), so a row that silently measures an error path cannot report.
"""

from __future__ import annotations

import gc
import json
import socket
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests

from benchmarks._harness import Env, Samples, row
from benchmarks._server import Body, CannedServer
from controldeck._core._sse import ServerSentEvent
from controldeck._core._streams import sse_stream
from controldeck._core._transport import Transport
from controldeck.akribes import AkribesClient
from controldeck.beampipe import BeampipeClient
from controldeck.runagent import RunAgentClient
from controldeck.runbeam import RunbeamClient
from controldeck.rune import RuneClient

__all__ = [
    "akribes_events_throughput",
    "akribes_get_script_per_call",
    "beampipe_status_per_call",
    "beampipe_wait_per_poll",
    "rune_get_service_per_call",
    "rune_grpc_get_service_per_call",
    "rune_grpc_logs_throughput",
    "runagent_run_per_call",
    "runagent_stream_per_frame",
    "rune_watch_throughput",
    "gateway",
    "gateway_page",
    "get_gateway_per_call",
    "get_gateway_per_call_timed_baseline",
    "import_controldeck",
    "import_runbeam",
    "list_gateways_decode",
    "list_gateways_fetch_only",
    "pagination_memory",
    "sse_throughput",
    "sse_throughput_split_only",
]

TOKEN = "bench-token"


def gateway(i: int) -> dict[str, Any]:
    """One gateway as the Runbeam API sends it, every field filled.

    Args:
        i: Makes the id, code and name unique.

    Returns:
        The JSON object.

    Example:
        >>> gateway(7)["code"]
        'gateway-7'
    """
    return {
        "type": "gateway",
        "id": f"01JBXGATEWAY{i:014d}",
        "code": f"gateway-{i}",
        "name": f"Gateway {i}",
        "team_id": "team-456",
        "enabled": True,
        "pipelines_path": "/etc/harmony/pipelines",
        "transforms_path": "/etc/harmony/transforms",
        "jwks_cache_duration_hours": 24,
        "management_enabled": True,
        "management_base_path": "/manage",
        "management_network_id": "network-789",
        "dns": ["8.8.8.8", "1.1.1.1"],
        "settings": {"timeout": 30},
        "created_at": "2024-01-01T00:00:00Z",
        "updated_at": "2024-01-02T03:04:05Z",
    }


def gateway_page(items: bytes, count: int, number: int, last: int, per_page: int) -> bytes:
    """A Laravel `{data, links, meta}` page of gateways, as compact JSON bytes.

    Args:
        items: The page's gateways, already encoded as one JSON array (so that a server
            can send many pages without encoding the same items again).
        count: How many gateways `items` holds.
        number: This page's number, from 1.
        last: The last page's number.
        per_page: Items per full page.

    Returns:
        The reply body.

    Example:
        >>> json.loads(gateway_page(b"[]", 0, 1, 1, 15))["meta"]["total"]
        0
    """
    url = "https://runbeam.example/api/gateways?page="
    first = (number - 1) * per_page + 1
    rest = {
        "links": {
            "first": f"{url}1",
            "last": f"{url}{last}",
            "prev": f"{url}{number - 1}" if number > 1 else None,
            "next": f"{url}{number + 1}" if number < last else None,
        },
        "meta": {
            "current_page": number,
            "from": first if count else None,
            "last_page": last,
            "path": url.removesuffix("?page="),
            "per_page": per_page,
            "to": first + count - 1 if count else None,
            "total": (last - 1) * per_page + count,
        },
    }
    return b'{"data":%s,%s' % (items, _compact(rest)[1:])


def _compact(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


@contextmanager
def _runbeam(body: Body, root: str = "/api") -> Iterator[tuple[CannedServer, RunbeamClient]]:
    """A canned server and a `RunbeamClient` pointed at `root` on it, both closed after."""
    with CannedServer(body) as server, RunbeamClient(server.url(root), token=TOKEN) as client:
        yield server, client


def _check(condition: bool, what: str) -> None:
    if not condition:
        raise RuntimeError(f"benchmark sanity check failed: {what}")


@row(
    "RunbeamClient.get_gateway(), per call",
    baseline="requests.Session().get(url).json()",
    unit="s",
    target=1.10,
)
def get_gateway_per_call(env: Env) -> Samples:
    """One small GET over a kept-alive connection: the SDK's fixed cost per call."""
    body = _compact({"data": gateway(1)})
    path = "/api/gateways/gateway-1"

    def reply(target: str) -> bytes | None:
        return body if target == path else None

    with _runbeam(reply) as (server, client), requests.Session() as session:
        url = server.url(path)
        samples = env.compare(
            lambda: session.get(url).json(),
            lambda: client.get_gateway("gateway-1"),
            calls=env.scale.calls,
        )
        _check(client.get_gateway("gateway-1").code == "gateway-1", "get_gateway decoded")
        _check(session.get(url).json()["data"]["code"] == "gateway-1", "bare GET decoded")
        # Two connections (session, client), each kept alive for every call.
        _check(server.connections == 2, f"keep-alive held ({server.connections} connections)")
    return samples


@row(
    "  the same vs a bare GET that also sets the timeout",
    baseline="requests.Session().get(url, timeout=(5, 60)).json()",
    unit="s",
    target=None,
)
def get_gateway_per_call_timed_baseline(env: Env) -> Samples:
    """The SDK's own cost: the row above's baseline sends no timeout, which requests and
    urllib3 handle more cheaply than any timeout at all (a few percent of a call)."""
    body = _compact({"data": gateway(1)})
    path = "/api/gateways/gateway-1"
    with (
        _runbeam(lambda target: body if target == path else None) as (server, client),
        requests.Session() as session,
    ):
        url = server.url(path)
        return env.compare(
            lambda: session.get(url, timeout=(5.0, 60.0)).json(),
            lambda: client.get_gateway("gateway-1"),
            calls=env.scale.calls,
        )


def _big_page(env: Env) -> bytes:
    n = env.scale.page_items
    return gateway_page(_compact([gateway(i) for i in range(n)]), n, 1, 1, n)


@row(
    "RunbeamClient.list_gateways(), one page, end to end",
    baseline="json.loads of the same bytes",
    unit="s",
    target=3.0,
)
def list_gateways_decode(env: Env) -> Samples:
    """Fetching and decoding a big page, against only parsing its JSON."""
    body = _big_page(env)
    with _runbeam(lambda target: body) as (_, client):
        samples = env.compare(lambda: json.loads(body), client.list_gateways)
        _check(len(client.list_gateways().data) == env.scale.page_items, "every item decoded")
    return samples


@row(
    "  the fetch alone: requests .get(url).content",
    baseline="json.loads of the same bytes",
    unit="s",
    target=None,
)
def list_gateways_fetch_only(env: Env) -> Samples:
    """How much of the row above is moving the bytes, so the rest is the SDK's decoding."""
    body = _big_page(env)
    with CannedServer(lambda target: body) as server, requests.Session() as session:
        url = server.url("/api/gateways")
        samples = env.compare(lambda: json.loads(body), lambda: session.get(url).content)
        _check(session.get(url).content == body, "the whole page arrived")
    return samples


def _pages(pages: int, per_page: int) -> Callable[[str], bytes | None]:
    """Serve `/api/<pages>/gateways?page=N`: `pages` pages of `per_page` gateways each."""
    # Every page holds the same items, encoded once: the server runs in the traced process,
    # so what it allocates per page should stay small next to what the client does.
    items = _compact([gateway(i) for i in range(per_page)])

    def reply(target: str) -> bytes | None:
        parts = urlsplit(target)
        if parts.path != f"/api/{pages}/gateways":
            return None
        number = int(parse_qs(parts.query).get("page", ["1"])[0])
        return gateway_page(items, per_page, number, pages, per_page)

    return reply


def _peak_while_iterating(client: RunbeamClient, expected: int) -> int:
    """Peak traced bytes while walking every page of `list_gateways()`, item by item."""
    gc.collect()
    tracemalloc.start()
    try:
        count = 0
        for _ in client.list_gateways():
            count += 1
        peak: int = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    _check(count == expected, f"iterated {count} of {expected} gateways")
    return peak


@row(
    "list_gateways() iterated lazily, many pages: peak traced memory",
    baseline="the same over few pages",
    unit="B",
    target=1.5,
)
def pagination_memory(env: Env) -> Samples:
    """Memory must not grow with the number of pages walked (one page held at a time)."""
    scale = env.scale
    small, large = scale.pages_small, scale.pages_large
    with (
        _runbeam(_pages(small, scale.per_page), f"/api/{small}") as (_, few),
        _runbeam(_pages(large, scale.per_page), f"/api/{large}") as (_, many),
    ):
        # Warm up on one page each (connections, cattrs' generated hooks): a whole walk
        # under tracemalloc is too slow to spend on warming up.
        few.list_gateways()
        many.list_gateways()
        return env.compare(
            lambda: _peak_while_iterating(few, small * scale.per_page),
            lambda: _peak_while_iterating(many, large * scale.per_page),
            figure="value",
            repeats=scale.heavy_repeats,
            warmup=False,
        )


def _python(code: str) -> Callable[[], None]:
    """Run `python -c code` in a fresh interpreter (this venv's), as one timed operation."""

    def run() -> None:
        subprocess.run([sys.executable, "-c", code], check=True)

    return run


@row(
    "python -c 'import controldeck.runbeam'",
    baseline="python -c 'import requests'",
    unit="s",
    target=0.100,
    compare="delta",
)
def import_runbeam(env: Env) -> Samples:
    """What a platform costs to import beyond requests itself (whole processes)."""
    return env.compare(_python("import requests"), _python("import controldeck.runbeam"))


@row(
    "python -c 'import controldeck'",
    baseline="python -c pass",
    unit="s",
    target=0.030,
    compare="delta",
)
def import_controldeck(env: Env) -> Samples:
    """`import controldeck` must stay cheap: it loads no platform and no requests."""
    return env.compare(_python("pass"), _python("import controldeck"))


def _events(count: int) -> bytes:
    return b"".join(b'id: %d\ndata: {"n": %d}\n\n' % (i, i) for i in range(count))


def _raw_sse_reader(host: str, port: int, path: str, *, parse: bool = True) -> int:
    """What a reader without the SDK does: a raw socket, Content-Length, and a minimal line
    parser that turns each event's `id:`/`data:` lines into an `(id, data)` record (or,
    with `parse=False`, only slices each event's data out: the least work possible)."""
    with socket.create_connection((host, port)) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        buf = b""
        while b"\r\n\r\n" not in buf:
            buf += sock.recv(65536)
        head, buf = buf.split(b"\r\n\r\n", 1)
        length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
        received, records = len(buf), list[tuple[bytes | None, bytes | str]]()
        while True:
            *events, buf = buf.split(b"\n\n")
            for event in events:
                if not parse:
                    records.append((None, event[event.rindex(b"data: ") + 6 :]))
                    continue
                fields = dict(line.partition(b": ")[::2] for line in event.split(b"\n"))
                records.append((fields.get(b"id"), fields[b"data"].decode()))
            if received >= length:
                return len(records)
            chunk = sock.recv(65536)
            received += len(chunk)
            buf += chunk


def _sse_rates(env: Env, *, parse: bool) -> Samples:
    count = env.scale.sse_events
    body = _events(count)
    with CannedServer(lambda target: body, content_type="text/event-stream") as server:
        url = urlsplit(server.url("/events"))
        host, port = url.hostname or "127.0.0.1", url.port or 80
        transport = Transport(base_url=server.url(""), platform="bench", max_retries=0)

        def raw() -> float:
            started = time.perf_counter()
            read = _raw_sse_reader(host, port, "/events", parse=parse)
            _check(read == count, "every raw event read")
            return count / (time.perf_counter() - started)

        def through_stream() -> float:
            started = time.perf_counter()
            opener = partial(transport.send, "GET", "/events", timeout=(5, 30))
            with sse_stream(lambda headers: opener(extra_headers=headers), _data) as stream:
                seen = sum(1 for _ in stream)
            _check(seen == count, "every event through the stream")
            return count / (time.perf_counter() - started)

        try:
            return env.compare(raw, through_stream, figure="value")
        finally:
            transport.close()


@row(
    "SSE: small events through Stream, throughput",
    baseline="raw socket + a minimal (id, data) line parser",
    unit="events/s",
    target=0.5,
    direction=">=",
)
def sse_throughput(env: Env) -> Samples:
    """Events per second through `sse_stream` (HTTP, WHATWG decoder, typed items) against
    a socket reader doing the least parsing that still yields each event's id and data."""
    return _sse_rates(env, parse=True)


@row(
    "  the same vs a reader that only slices out data",
    baseline="raw socket, split on blank lines",
    unit="events/s",
    target=None,
    direction=">=",
)
def sse_throughput_split_only(env: Env) -> Samples:
    """The floor: a reader that parses no field at all (C-level split and slice)."""
    return _sse_rates(env, parse=False)


def _data(event: ServerSentEvent) -> str:
    return event.data


@row(
    "AkribesClient.project(pid).scripts.get(), per call",
    baseline="requests.Session().get(url).json()",
    unit="s",
    target=1.10,
)
def akribes_get_script_per_call(env: Env) -> Samples:
    """One project-scope GET: building the scope, the path segment, the call and the decode."""
    body = _compact({"id": 3, "project_id": 7, "name": "triage",
                     "created_at": "2025-01-01T00:00:00Z"})  # fmt: skip
    path = "/projects/7/scripts/triage"

    def reply(target: str) -> bytes | None:
        return body if target == path else None

    with (
        CannedServer(reply) as server,
        AkribesClient(server.url(""), token=TOKEN) as client,
        requests.Session() as session,
    ):
        url = server.url(path)
        samples = env.compare(
            lambda: session.get(url).json(),
            lambda: client.project(7).scripts.get("triage"),
            calls=env.scale.calls,
        )
        script = client.project(7).scripts.get("triage")
        _check(script is not None and script.name == "triage", "scripts.get decoded")
        _check(session.get(url).json()["name"] == "triage", "bare GET decoded")
        _check(server.connections == 2, f"keep-alive held ({server.connections} connections)")
    return samples


def _hub_events(count: int) -> bytes:
    """`count` hub messages of one engine event each, as the Akribes server frames them."""
    frames = []
    for seq in range(1, count + 1):
        hub = {"type": "Execution", "payload": {
            "project_id": 7, "script_name": "triage", "execution_id": "exec-1",
            "event": {"type": "Log", "payload": f"line {seq}"}, "seq": seq,
            "at": "2025-01-01T00:00:00.000Z"}}  # fmt: skip
        frames.append(b"id: %d\nevent: batch\ndata: %s\n\n" % (seq, _compact([hub])))
    return b"".join(frames)


@row(
    "SSE: hub engine events through client.events(pid), throughput",
    baseline="raw socket + a minimal (id, data) line parser",
    unit="events/s",
    target=0.5,
    direction=">=",
)
def akribes_events_throughput(env: Env) -> Samples:
    """Typed `HubEvent`s per second (SSE decode, JSON, tagged unions) against the same
    bytes read off a raw socket, parsed only into (id, data)."""
    count = env.scale.sse_events
    body = _hub_events(count)

    def reply(target: str) -> bytes | None:
        return body if target.startswith("/events?") else None

    with (
        CannedServer(reply, content_type="text/event-stream") as server,
        AkribesClient(server.url(""), token=TOKEN, max_retries=0) as client,
    ):
        url = urlsplit(server.url("/"))
        host, port = url.hostname or "127.0.0.1", url.port or 80

        def raw() -> float:
            started = time.perf_counter()
            read = _raw_sse_reader(host, port, "/events?project_id=7")
            _check(read == count, "every raw event read")
            return count / (time.perf_counter() - started)

        def through_client() -> float:
            started = time.perf_counter()
            seen = 0
            with client.events(7) as events:
                # Stop at the last event: what a drop of the canned body would do next
                # (resume) is not what this row measures.
                for _ in events:
                    seen += 1
                    if seen == count:
                        break
            _check(seen == count, "every event through client.events")
            return count / (time.perf_counter() - started)

        return env.compare(raw, through_client, figure="value")


EXECUTION_ID = "0192f0c4-9a3b-7c1d-8e2f-00000000e001"
_STATUS_PATH = f"/api/v2/executions/{EXECUTION_ID}/status"


def _execution_status(status: str) -> bytes:
    """An `ExecutionStatusResponse` as the Beampipe server sends it (Option fields null)."""
    nulls = ("execution_phase", "scheduler_name", "scheduler_job_id", "daliuge_session_id",
             "control_phase", "submission_state", "submission_deadline_at",
             "submission_abandoned_at", "scheduler_state", "scheduler_raw_state",
             "scheduler_reason", "daliuge_state", "output_state", "terminal_outcome",
             "failure_class", "last_error", "completed_at", "slurm_state", "dim_state",
             "last_observation_at", "duration_seconds")  # fmt: skip
    return _compact({"uuid": EXECUTION_ID, "status": status, "retry_count": 0,
                     "started_at": "2026-11-23T10:00:00Z", **dict.fromkeys(nulls)})  # fmt: skip


@row(
    "BeampipeClient.get_execution_status(), per call",
    baseline="requests.Session().get(url).json()",
    unit="s",
    target=1.10,
)
def beampipe_status_per_call(env: Env) -> Samples:
    """The poll call of the seed workflow: UUID check, bearer auth hook, decode."""
    body = _execution_status("running")
    with (
        CannedServer(lambda target: body if target == _STATUS_PATH else None) as server,
        BeampipeClient(server.url(""), token=TOKEN) as client,
        requests.Session() as session,
    ):
        url = server.url(_STATUS_PATH)
        samples = env.compare(
            lambda: session.get(url).json(),
            lambda: client.get_execution_status(EXECUTION_ID),
            calls=env.scale.calls,
        )
        _check(client.get_execution_status(EXECUTION_ID).status == "running", "status decoded")
        _check(session.get(url).json()["status"] == "running", "bare GET decoded")
        _check(server.connections == 2, f"keep-alive held ({server.connections} connections)")
    return samples


@row(
    "BeampipeClient.wait_for_execution(), cost per poll",
    baseline="a bare loop: session.get(url).json() until the status is terminal",
    unit="s",
    target=1.25,
)
def beampipe_wait_per_poll(env: Env) -> Samples:
    """Polling through `wait_for` (deadline, describe, progress off, typed status) against
    the same number of bare GETs; neither side sleeps between polls (the client's sleep is
    replaced, as tests inject it)."""
    polls = max(env.scale.calls, 2)
    running, completed = _execution_status("running"), _execution_status("completed")
    served = [0]

    def reply(target: str) -> bytes | None:
        if target != _STATUS_PATH:
            return None
        served[0] += 1
        return completed if served[0] % polls == 0 else running

    terminal = {"completed", "failed", "cancelled", "not_submitted"}
    with (
        CannedServer(reply) as server,
        BeampipeClient(server.url(""), token=TOKEN) as client,
        requests.Session() as session,
    ):
        url = server.url(_STATUS_PATH)
        client._transport.sleep = lambda _seconds: None  # poll back to back, like the loop

        def bare() -> float:
            served[0] = 0
            started = time.perf_counter()
            n = 0
            while True:
                n += 1
                if session.get(url).json()["status"] in terminal:
                    break
            _check(n == polls, f"bare loop polled {n} times")
            return (time.perf_counter() - started) / n

        def sdk() -> float:
            served[0] = 0
            started = time.perf_counter()
            final = client.wait_for_execution(EXECUTION_ID, timeout=60, poll_interval=1)
            _check(final.status == "completed" and served[0] == polls, "waited to the end")
            return (time.perf_counter() - started) / polls

        return env.compare(bare, sdk, figure="value")


_GET_SERVICE = "/grpc/rune.api.ServiceService/GetService"
_WATCH_SERVICES = "/grpc/rune.api.ServiceService/WatchServices"


def _rune_service(i: int) -> dict[str, Any]:
    """A `Service` as runed's protojson sends it (every field emitted, int64 as strings)."""
    return {"id": f"svc-{i}", "name": "api", "namespace": "default", "labels": {"app": "api"},
            "image": "nginx:1.27", "command": "", "args": [], "env": {"MODE": "prod"},
            "envFrom": [], "scale": 2, "ports": [{"name": "http", "port": 80, "targetPort": 8080,
            "protocol": "tcp"}], "resources": None, "health": None,
            "status": "SERVICE_STATUS_RUNNING", "runtime": "container", "process": None,
            "restartPolicy": "RESTART_POLICY_ALWAYS", "secretMounts": [], "configmapMounts": [],
            "metadata": {"generation": 3, "createdAt": "2026-11-23T10:00:00Z",
                         "updatedAt": "2026-11-23T10:00:00Z", "lastNonZeroScale": 2},
            "dependencies": [], "expose": None}  # fmt: skip


def _rune_envelopes(count: int) -> bytes:
    """`count` WatchServices messages as Connect envelopes, then a clean end-of-stream."""
    frames = []
    for i in range(count):
        message = _compact({"service": _rune_service(i), "eventType": "EVENT_TYPE_MODIFIED",
                            "status": {"code": 0, "message": "", "details": []}})  # fmt: skip
        frames.append(b"\x00" + len(message).to_bytes(4, "big") + message)
    frames.append(b"\x02\x00\x00\x00\x02{}")
    return b"".join(frames)


@row(
    "RuneClient.get_service() over Connect, per call",
    baseline="requests.Session().post(url, json=...).json()",
    unit="s",
    target=1.10,
)
def rune_get_service_per_call(env: Env) -> Samples:
    """One unary RPC: Connect headers (protocol version, timeout), the request model, the
    decode of a full `Service` against a bare POST of the same JSON."""
    body = _compact({"service": _rune_service(1),
                     "status": {"code": 0, "message": "", "details": []}})  # fmt: skip
    with (
        CannedServer(lambda target: body if target == _GET_SERVICE else None) as server,
        RuneClient(server.url(""), token=TOKEN) as client,
        requests.Session() as session,
    ):
        url = server.url(_GET_SERVICE)
        headers = {"Connect-Protocol-Version": "1", "Authorization": f"Bearer {TOKEN}"}
        request = {"name": "api", "namespace": "default"}
        samples = env.compare(
            lambda: session.post(url, json=request, headers=headers).json(),
            lambda: client.get_service("api"),
            calls=env.scale.calls,
        )
        _check(client.get_service("api").image == "nginx:1.27", "get_service decoded")
        _check(session.post(url, json=request).json()["service"]["name"] == "api", "bare POST")
        _check(server.connections == 2, f"keep-alive held ({server.connections} connections)")
    return samples


def _raw_envelope_reader(host: str, port: int, path: str) -> int:
    """What a reader without the SDK does: POST one envelope on a raw socket, then split
    the reply into 5-byte headers and JSON messages, `json.loads` each, stop at 0x02."""
    request = b"\x00\x00\x00\x00\x02{}"
    with socket.create_connection((host, port)) as sock:
        sock.sendall(
            f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/connect+json"
            f"\r\nContent-Length: {len(request)}\r\n\r\n".encode()
            + request
        )
        buf = b""
        while b"\r\n\r\n" not in buf:
            buf += sock.recv(65536)
        _head, buf = buf.split(b"\r\n\r\n", 1)
        count, pos = 0, 0
        while True:
            while len(buf) - pos < 5:
                buf = buf[pos:] + sock.recv(65536)
                pos = 0
            flag, size = buf[pos], int.from_bytes(buf[pos + 1 : pos + 5], "big")
            while len(buf) - pos < 5 + size:
                buf = buf[pos:] + sock.recv(65536)
                pos = 0
            message = json.loads(buf[pos + 5 : pos + 5 + size])
            pos += 5 + size
            if flag & 0x02:
                return count
            count += 1 if message else 0


@row(
    "Rune watch_services(): Connect envelopes through Stream, throughput",
    baseline="raw socket + 5-byte header split + json.loads",
    unit="events/s",
    target=0.5,
    direction=">=",
)
def rune_watch_throughput(env: Env) -> Samples:
    """Typed `WatchServicesResponse` events per second (envelope decoding, JSON, models with
    enums and int64 fields) against the same bytes split and `json.loads`-ed on a raw
    socket."""
    count = env.scale.sse_events
    body = _rune_envelopes(count)
    with (
        CannedServer(
            lambda target: body if target == _WATCH_SERVICES else None,
            content_type="application/connect+json",
        ) as server,
        RuneClient(server.url(""), token=TOKEN, max_retries=0) as client,
    ):
        url = urlsplit(server.url("/"))
        host, port = url.hostname or "127.0.0.1", url.port or 80

        def raw() -> float:
            started = time.perf_counter()
            read = _raw_envelope_reader(host, port, _WATCH_SERVICES)
            _check(read == count, f"every raw envelope read ({read})")
            return count / (time.perf_counter() - started)

        def through_client() -> float:
            started = time.perf_counter()
            with client.watch_services("default") as events:
                seen = sum(1 for _ in events)
            _check(seen == count, f"every event through watch_services ({seen})")
            return count / (time.perf_counter() - started)

        return env.compare(raw, through_client, figure="value")


@row(
    "RuneClient.get_service() over gRPC, per call",
    baseline="the same call over Connect, same FakeRune",
    unit="s",
    target=1.0,
)
def rune_grpc_get_service_per_call(env: Env) -> Samples:
    """One unary RPC against one FakeRune serving both wires (same handler, same state):
    what the gRPC transport (HTTP/2, protobuf, protojson back to the models) costs against
    Connect over requests."""
    from controldeck.testing.rune import FakeRune

    with FakeRune(grpc=True) as fake:
        fake.add_service("api", scale=0, env={"MODE": "prod"}, labels={"tier": "web"})
        with (
            RuneClient(fake.url, token=fake.seed_token, max_retries=0) as connect,
            RuneClient(
                token=fake.seed_token,
                transport="grpc",
                grpc_target=fake.grpc_target,
                max_retries=0,
            ) as grpc,
        ):
            _check(grpc.get_service("api") == connect.get_service("api"), "both wires agree")
            return env.compare(
                lambda: connect.get_service("api"),
                lambda: grpc.get_service("api"),
                calls=env.scale.calls,
            )


@row(
    "Rune logs() over gRPC StreamLogs, throughput",
    baseline="the generated stub: StreamLogs + MessageToDict per line",
    unit="events/s",
    target=0.5,
    direction=">=",
)
def rune_grpc_logs_throughput(env: Env) -> Samples:
    """Typed `LogResponse` lines per second through `logs()` (request queue, the stream,
    protojson, models) against a loop over the generated stub that only converts each
    message to a dict. The server is a bare grpcio servicer replaying the same prebuilt
    lines (FakeRune's log store would be the bottleneck of both sides)."""
    from concurrent.futures import ThreadPoolExecutor

    import grpc as grpclib
    from google.protobuf import json_format

    from controldeck._generated.rune_grpc import logs_pb2, logs_pb2_grpc

    count = min(env.scale.sse_events, 20_000)
    lines = [
        logs_pb2.LogResponse(
            service_name="api", instance_id=f"inst-{i % 3}", instance_name=f"api-{i % 3}",
            timestamp="2026-11-24T00:00:00Z", content=f"GET /item/{i} 200", stream="stdout",
            log_level="info",
        )
        for i in range(count)
    ]  # fmt: skip

    class Replay(logs_pb2_grpc.LogServiceServicer):  # type: ignore[misc]
        def StreamLogs(self, requests: Any, context: Any) -> Any:
            next(requests)  # the first request: the parameters
            yield from lines

    server = grpclib.server(ThreadPoolExecutor(max_workers=4))
    logs_pb2_grpc.add_LogServiceServicer_to_server(Replay(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    target = f"127.0.0.1:{port}"
    channel = grpclib.insecure_channel(target)
    stub = logs_pb2_grpc.LogServiceStub(channel)
    try:
        with RuneClient(token=TOKEN, transport="grpc", grpc_target=target) as client:

            def raw() -> float:
                started = time.perf_counter()
                first = logs_pb2.LogRequest(resource_target="api", namespace="default")
                seen = 0
                for reply in stub.StreamLogs(iter([first]), timeout=60):
                    seen += bool(json_format.MessageToDict(reply))
                _check(seen == count, f"every line through the stub ({seen})")
                return count / (time.perf_counter() - started)

            def through_client() -> float:
                started = time.perf_counter()
                with client.logs("api", timeout=60) as stream:
                    seen = sum(1 for line in stream if line.content)
                _check(seen == count, f"every line through logs() ({seen})")
                return count / (time.perf_counter() - started)

            return env.compare(raw, through_client, figure="value")
    finally:
        channel.close()
        server.stop(grace=None)


_AGENT_ID = "11111111-2222-3333-4444-555555555555"
_AGENT = f"/api/v1/agents/{_AGENT_ID}"


def _run_reply(value: Any) -> bytes:
    """A local server's run reply: the value double-encoded in `data` (reference §3)."""
    data = json.dumps({"type": "object", "payload": json.dumps(value)})
    return _compact({"success": True, "data": data, "message": "Agent execution completed "
                     "successfully", "error": None, "timestamp": "2026-11-23T08:13:20.439083",
                     "request_id": "7e8b29a8-05ed-4b6f-945d-60a1e5d6d8d1"})  # fmt: skip


@row(
    "RunAgentClient.run(), per call",
    baseline="requests.Session().post(url, json=body) + the two json.loads of the result",
    unit="s",
    target=1.10,
)
def runagent_run_per_call(env: Env) -> Samples:
    """One run of a local agent: the payload, the envelope, the double-encoded result. The
    architecture is fetched once, by the warm-up, as in a real client's life."""
    value = {"echo": "hi", "times": 2, "tags": ["a", "b"], "nested": {"ok": True}}
    run, architecture = _run_reply(value), _compact({
        "success": True, "message": "ok", "error": None, "timestamp": "2026-11-23T08:13:20",
        "request_id": "r-1", "data": {"agent_id": _AGENT_ID, "entrypoints": [
            {"file": "agent.py", "module": "echo", "tag": "echo", "extractor": {}}]},
    })  # fmt: skip
    replies = {f"{_AGENT}/run": run, f"{_AGENT}/architecture": architecture}
    with CannedServer(replies.get) as server:
        port = urlsplit(server.url("/")).port or 80
        with (
            RunAgentClient(_AGENT_ID, "echo", local=True, host="127.0.0.1", port=port) as client,
            requests.Session() as session,
        ):
            url = server.url(f"{_AGENT}/run")
            body = {"entrypoint_tag": "echo", "input_args": [], "input_kwargs": {"message": "hi"},
                    "timeout_seconds": 300, "async_execution": False}  # fmt: skip

            def bare() -> Any:
                return json.loads(
                    json.loads(session.post(url, json=body).json()["data"])["payload"]
                )

            samples = env.compare(bare, lambda: client.run(message="hi"), calls=env.scale.calls)
            _check(client.run(message="hi") == value, "run() decoded")
            _check(bare() == value, "bare POST decoded")
            _check(server.connections == 2, f"keep-alive held ({server.connections} connections)")
    return samples


@row(
    "RunAgentClient.run_stream(), cost per frame",
    baseline="a raw websocket-client loop: send, recv, json.loads each frame and its content",
    unit="s",
    target=1.25,
)
def runagent_stream_per_frame(env: Env) -> Samples:
    """One stream of many chunks from FakeRunAgent (the same server work on both sides):
    the SDK's frame parsing, decoding and `Stream` against the loop a user would write."""
    import websocket  # the bench needs it on both sides; the SDK imports it on first use

    from controldeck.testing.runagent import FakeRunAgent

    count = env.scale.sse_events
    chunks = [f"chunk-{i}" for i in range(count)]
    with FakeRunAgent(_AGENT_ID, entrypoints={"many_stream": lambda: iter(chunks)}) as fake:
        start = json.dumps({"entrypoint_tag": "many_stream", "input_args": [], "input_kwargs": {},
                            "timeout_seconds": 300, "async_execution": False})  # fmt: skip
        ws_url = f"ws://127.0.0.1:{fake.port}{_AGENT}/run-stream"

        def raw() -> float:
            started = time.perf_counter()
            ws = websocket.create_connection(ws_url, timeout=10)
            ws.send(start)
            seen = []
            while True:
                frame = json.loads(ws.recv())
                if frame["type"] == "data":
                    seen.append(json.loads(json.loads(frame["content"])["payload"]))
                elif frame.get("status") == "stream_completed":
                    break
            ws.close()
            _check(seen == chunks, f"every raw frame read ({len(seen)})")
            return (time.perf_counter() - started) / count

        with RunAgentClient(
            _AGENT_ID, "many_stream", local=True, host="127.0.0.1", port=fake.port
        ) as client:

            def sdk() -> float:
                started = time.perf_counter()
                with client.run_stream() as stream:
                    seen = list(stream)
                _check(seen == chunks, f"every frame through run_stream ({len(seen)})")
                return (time.perf_counter() - started) / count

            return env.compare(raw, sdk, figure="value")
