"""Bodies and downloads over real loopback sockets: resends, memory bounds, broken replies."""

from __future__ import annotations

import hashlib
import io
import os
import socket
import threading
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import pytest
import requests

from controldeck import APIConnectionError, APITimeoutError, InvalidArgumentError
from controldeck._core._bodies import (
    ContentBody,
    FileBody,
    FormBody,
    JsonBody,
    MultipartBody,
    Part,
    RequestBody,
)
from controldeck._core._downloads import Download, read_bytes, read_text
from controldeck._core._transport import Transport
from tests.wire.server import CLOSE, HANG, RESET, Server, response

TIMEOUT = (0.5, 0.2)
MiB = 1024 * 1024
# Far below the 50 MB moved in the memory tests (measured peaks: 50-170 KiB; reading the
# file or the reply whole costs 50-106 MiB), with room for a slower, noisier machine.
MEMORY_BOUND = 1 * MiB


@pytest.fixture
def session() -> Iterator[requests.Session]:
    with requests.Session() as s:
        yield s


def _post(session: requests.Session, url: str, body: RequestBody) -> requests.Response:
    """One attempt, as the transport makes it: a fresh payload, closed afterwards."""
    with body.payload() as data:
        reply = session.post(
            url, data=data, headers={"Content-Type": body.content_type}, timeout=TIMEOUT
        )
    reply.close()
    return reply


_PATTERN = bytes(range(256)) * 4096


def _pattern(i: int) -> bytes:
    """MiB number i of a large body: every MiB differs, so a misordered block shows."""
    return i.to_bytes(4, "big") + _PATTERN[4:]


def _big_file(path: Path, size: int) -> str:
    """Write `size` bytes of `_pattern` blocks and return their sha256."""
    digest = hashlib.sha256()
    with path.open("wb") as f:
        for i in range(size // MiB):
            f.write(_pattern(i))
            digest.update(_pattern(i))
    return digest.hexdigest()


# -- every attempt sends the whole body --------------------------------------------------------


def test_a_resent_body_is_the_same_full_body(session: requests.Session, tmp_path: Path) -> None:
    doc = tmp_path / "doc.pdf"
    doc.write_bytes(b"%PDF-1.7 " * 5000)
    body = MultipartBody(
        [Part("doc", doc), Part("_meta", '{"triggered_by":"sdk"}', content_type="application/json")]
    )
    with Server([response(503), response(201)]) as server:
        _post(session, server.url("/run/upload"), body)
        _post(session, server.url("/run/upload"), body)
    first, second = server.requests
    assert first.body == second.body
    assert len(first.body) == body.length
    assert first.body.startswith(f"--{body.boundary}\r\n".encode())
    assert b"%PDF-1.7 " * 5000 + b"\r\n" in first.body
    assert first.body.endswith(f"--{body.boundary}--\r\n".encode())
    for request in server.requests:
        assert request.headers["content-length"] == str(body.length)
        assert request.headers["content-type"] == body.content_type
        assert "transfer-encoding" not in request.headers


@pytest.mark.parametrize(
    ("make", "sent", "content_type"),
    [
        (lambda p: JsonBody(b'{"a":1}'), b'{"a":1}', "application/json"),
        (
            lambda p: ContentBody("kind: café\n", "text/plain"),
            b"kind: caf\xc3\xa9\n",
            "text/plain; charset=utf-8",
        ),
        (lambda p: FileBody(p, "application/wasm"), b"\x00asm" * 40000, "application/wasm"),
        (lambda p: FormBody({"a": "b c"}), b"a=b+c", "application/x-www-form-urlencoded"),
    ],
)
def test_every_kind_is_resent_whole_with_a_content_length(
    session: requests.Session,
    tmp_path: Path,
    make: Callable[[Path], RequestBody],
    sent: bytes,
    content_type: str,
) -> None:
    path = tmp_path / "app.wasm"
    path.write_bytes(b"\x00asm" * 40000)
    body = make(path)
    with Server([response(200)]) as server:
        for _ in range(2):
            _post(session, server.url("/up"), body)
    assert [r.body for r in server.requests] == [sent, sent]
    for request in server.requests:
        assert request.headers["content-length"] == str(len(sent))
        assert request.headers["content-type"] == content_type
        assert "transfer-encoding" not in request.headers


def test_an_empty_file_is_sent_with_content_length_zero(
    session: requests.Session, tmp_path: Path
) -> None:
    empty = tmp_path / "empty.yaml"
    empty.write_bytes(b"")
    with Server([response(200)]) as server:
        _post(session, server.url("/up"), FileBody(empty, "text/plain"))
    assert server.requests[0].headers["content-length"] == "0"
    assert server.requests[0].body == b""


def test_a_file_that_shrinks_mid_upload_aborts_with_a_typed_error(
    session: requests.Session, tmp_path: Path
) -> None:
    path = tmp_path / "big.bin"
    path.write_bytes(b"x" * (1 * MiB))
    body = FileBody(path)
    with Server([response(200)]) as server, body.payload() as data:
        os.truncate(path, 1000)
        with pytest.raises(APIConnectionError, match="changed size while it was being sent"):
            session.post(server.url("/up"), data=data, timeout=TIMEOUT)


# -- memory stays flat for large uploads ---------------------------------------------------------


class _BigBodies:
    """Takes uploads keeping only their length and sha256, and serves large downloads.

    `server.Server` keeps every request body and sends each reply item with one 50 ms
    `sendall`; neither suits 50 MB moved by a client that tracemalloc slows down.
    A GET for `/download/<n>` gets n MiB of `_pattern(i)` blocks.
    """

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.05)
        self.base_url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self.received: list[tuple[int, str, dict[str, str]]] = []
        self._stop = threading.Event()
        self._buffer = bytearray(256 * 1024)  # made here, before any memory is measured
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._listener.close()

    def _serve(self) -> None:
        buffer = self._buffer
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            with conn, conn.makefile("rb") as stream:
                conn.settimeout(5)
                headers = {}
                target = stream.readline().decode("latin-1").split(" ")[1]
                while (line := stream.readline().decode("latin-1").strip()) != "":
                    name, _, value = line.partition(":")
                    headers[name.strip().lower()] = value.strip()
                left = int(headers.get("content-length", "0"))
                digest, total = hashlib.sha256(), 0
                while left:
                    n = stream.readinto(memoryview(buffer)[: min(left, len(buffer))])
                    if not n:
                        break
                    digest.update(memoryview(buffer)[:n])
                    total, left = total + n, left - n
                self.received.append((total, digest.hexdigest(), headers))
                mib = int(target.removeprefix("/download/")) if "/download/" in target else 0
                conn.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/wasm\r\n"
                    b"Connection: close\r\nContent-Length: %d\r\n\r\n" % (mib * MiB)
                )
                for i in range(mib):
                    # The same bytes as _pattern(i), without allocating a MiB per block.
                    conn.sendall(i.to_bytes(4, "big"))
                    conn.sendall(memoryview(_PATTERN)[4:])


def _peak_while(action: Callable[[], Any]) -> int:
    tracemalloc.start()
    try:
        action()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_50_mb_uploads_stream_in_constant_memory(session: requests.Session, tmp_path: Path) -> None:
    path = tmp_path / "big.bin"
    file_sha = _big_file(path, 50 * MiB)
    raw = FileBody(path)
    multi = MultipartBody(
        [
            Part("doc", path),
            Part("_meta", '{"triggered_by":"sdk"}', content_type="application/json"),
        ],
        boundary="B",
    )
    head = (
        b'--B\r\nContent-Disposition: form-data; name="doc"; filename="big.bin"\r\n'
        b"Content-Type: application/octet-stream\r\n\r\n"
    )
    tail = (
        b'\r\n--B\r\nContent-Disposition: form-data; name="_meta"\r\n'
        b'Content-Type: application/json\r\n\r\n{"triggered_by":"sdk"}\r\n--B--\r\n'
    )
    multi_sha = hashlib.sha256(head)
    with path.open("rb") as f:
        for block in iter(lambda: f.read(MiB), b""):
            multi_sha.update(block)
    multi_sha.update(tail)

    with _BigBodies() as sink:
        raw_peak = _peak_while(lambda: _post(session, sink.base_url + "/upload", raw))
        multi_peak = _peak_while(lambda: _post(session, sink.base_url + "/upload", multi))

    (raw_len, raw_hash, raw_headers), (multi_len, multi_hash, multi_headers) = sink.received
    assert (raw_len, raw_hash) == (50 * MiB, file_sha)
    assert (multi_len, multi_hash) == (len(head) + 50 * MiB + len(tail), multi_sha.hexdigest())
    assert raw_headers["content-length"] == str(50 * MiB)
    assert multi_headers["content-length"] == str(multi_len)
    assert raw_peak < MEMORY_BOUND, raw_peak
    assert multi_peak < MEMORY_BOUND, multi_peak


# -- downloads -----------------------------------------------------------------------------------


def test_a_large_download_to_a_path_has_bounded_memory(
    session: requests.Session, tmp_path: Path
) -> None:
    dest = tmp_path / "app.wasm"
    target = Download(dest)
    with _BigBodies() as server:

        def download() -> None:
            # tracemalloc slows both ends a lot on a busy machine: no stall limit to test here.
            got = session.get(server.base_url + "/download/50", stream=True, timeout=(0.5, 10))
            assert target.save(got) == 50 * MiB

        peak = _peak_while(download)
    assert peak < MEMORY_BOUND, peak
    expected = hashlib.sha256(b"".join(_pattern(i) for i in range(50))).hexdigest()
    with dest.open("rb") as f:
        assert hashlib.file_digest(f, "sha256").hexdigest() == expected
    assert os.listdir(tmp_path) == ["app.wasm"]


def test_a_download_replaces_an_existing_file_only_when_complete(
    session: requests.Session, tmp_path: Path
) -> None:
    dest = tmp_path / "app.wasm"
    dest.write_bytes(b"old version")
    with Server(
        [response(200, b"new"), [response(200, b"x" * 600, content_length=1000), CLOSE]]
    ) as server:
        assert Download(dest).save(session.get(server.url("/1"), stream=True, timeout=TIMEOUT)) == 3
        assert dest.read_bytes() == b"new"
        reply = session.get(server.url("/2"), stream=True, timeout=TIMEOUT)
        with pytest.raises(APIConnectionError) as info:
            Download(dest).save(reply)
    assert dest.read_bytes() == b"new"
    assert os.listdir(tmp_path) == ["app.wasm"]
    message = str(info.value)
    assert message == (
        f"GET {server.url('/2')}: the reply body broke off before all 1000 bytes arrived "
        "(IncompleteRead(600 bytes read, 400 more expected))"
    )


def test_a_truncated_download_leaves_no_file(session: requests.Session, tmp_path: Path) -> None:
    script = [response(200, b"a" * 500, content_length=100_000), CLOSE]
    with Server([script]) as server:
        reply = session.get(server.url("/wasm?token=s3cr3t"), stream=True, timeout=TIMEOUT)
        with pytest.raises(APIConnectionError) as info:
            Download(tmp_path / "out.wasm").save(reply)
    assert type(info.value) is APIConnectionError
    assert "before all 100000 bytes arrived (IncompleteRead(500 bytes read" in str(info.value)
    assert "s3cr3t" not in str(info.value)
    assert info.value.url == server.url("/wasm")
    assert os.listdir(tmp_path) == []


def test_a_reset_download_is_a_connection_error(session: requests.Session, tmp_path: Path) -> None:
    with Server([[response(200, b"a" * 5000, content_length=100_000), RESET]]) as server:
        reply = session.get(server.url("/wasm"), stream=True, timeout=TIMEOUT)
        with pytest.raises(APIConnectionError, match="broke off before all 100000 bytes arrived"):
            Download(tmp_path / "out.wasm").save(reply)
    assert os.listdir(tmp_path) == []


def test_a_stalled_download_is_a_timeout(session: requests.Session, tmp_path: Path) -> None:
    with Server([[response(200, b"a" * 5000, content_length=100_000), HANG]]) as server:
        reply = session.get(server.url("/wasm"), stream=True, timeout=TIMEOUT)
        with pytest.raises(APITimeoutError) as info:
            Download(tmp_path / "out.wasm").save(reply)
    assert str(info.value) == (f"GET {server.url('/wasm')}: the reply body stalled (read timeout)")
    assert os.listdir(tmp_path) == []


def test_download_to_a_file_object_through_the_transport() -> None:
    chunked = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
    )
    with Server([chunked]) as server:
        transport = Transport(base_url=server.base_url, platform="test", timeout=TIMEOUT)
        try:
            out = io.BytesIO()
            reply = transport.send("GET", "/wasm", stream=True)
            assert Download(out).save(reply) == 11
        finally:
            transport.close()
    assert out.getvalue() == b"hello world"
    assert not out.closed  # the caller's file stays theirs


def test_a_download_destination_is_checked_before_anything_is_sent(tmp_path: Path) -> None:
    with Server([response(200, b"x")]) as server, pytest.raises(InvalidArgumentError):
        Download(tmp_path / "no" / "such" / "dir.wasm")
    assert server.requests == []


# -- text and bytes replies ---------------------------------------------------------------------


def test_text_replies_with_and_without_a_charset(session: requests.Session) -> None:
    metrics = "# HELP x_total Über\nx_total 1\n"
    with Server(
        [
            response(200, metrics, headers={"Content-Type": "text/plain; version=0.0.4"}),
            response(
                200,
                metrics.encode("latin-1"),
                headers={"Content-Type": "text/plain; charset=latin-1"},
            ),
        ]
    ) as server:
        plain = session.get(server.url("/metrics"), stream=True, timeout=TIMEOUT)
        assert read_text(plain) == metrics
        latin = session.get(server.url("/metrics"), timeout=TIMEOUT)
        assert read_text(latin) == metrics


def test_a_truncated_bytes_reply_is_a_connection_error(session: requests.Session) -> None:
    with Server([[response(200, b"\x00asm", content_length=10), CLOSE]]) as server:
        reply = session.get(server.url("/wasm"), stream=True, timeout=TIMEOUT)
        with pytest.raises(APIConnectionError, match=r"broke off .*IncompleteRead"):
            read_bytes(reply)
