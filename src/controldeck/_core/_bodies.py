"""Request bodies (JSON, raw content, files, multipart, forms); replies are in `_downloads`.

Sending a body
--------------
A facade builds one body object per logical call, before anything is sent, so every
argument problem (a missing file, a directory, an empty part name, a wrong type) raises
`InvalidArgumentError` up front. The transport then asks the body for a fresh payload on
every attempt, so a retry resends the whole body (files are reopened from the start):

    body = FileBody(path, "application/wasm")
    for each attempt:
        with body.payload() as data:
            session.request(method, url, data=data,
                            headers={..., "Content-Type": body.content_type})
        # debug logs show body.describe(), e.g. "<file app.wasm: 3.2 MiB>", never contents

Every payload is either `bytes` or a `BodyReader` whose `len()` is the exact length, so
requests sends a `Content-Length` header (never chunked) and urllib3 pulls it in bounded
blocks with `read(n)`: memory stays flat however large the files are.

The kinds, and what each sends as Content-Type:

- JSON: `JsonBody(serialised_bytes)` -> `application/json`.
- Raw text or bytes: `ContentBody(str | bytes, "text/plain")` -> the type given. A `str` is
  encoded in the charset the type declares (UTF-8 when none), and a `text/*` type without
  a charset gets `; charset=utf-8`.
- A file, streamed from disk: `FileBody(path, "application/octet-stream")`.
- Text, bytes or a path (Beampipe YAML and WASM uploads): `content_body(value, type)`
  picks `FileBody` for an `os.PathLike`, else `ContentBody`.
- Multipart: `MultipartBody([Part("doc", Path("a.pdf")), Part("_meta", meta_json,
  content_type="application/json")])` -> `multipart/form-data; boundary=...`. A `Part`
  holds a `str` (a text field, UTF-8), `bytes`, or an `os.PathLike` (streamed; its
  filename defaults to the base name). Names and filenames are written as browsers do
  (WHATWG): UTF-8, with `"`, CR and LF percent-encoded, so no value escapes its header.
- Urlencoded form: `FormBody({"grant_type": "refresh_token"})` ->
  `application/x-www-form-urlencoded`.

A `str` is always content, never a path: pass a `pathlib.Path` to send a file.

Receiving a reply (`controldeck._core._downloads`)
-----------------------------------------------
The transport returns the 2xx `requests.Response`; the reply kind decides what is read:

- Text (Prometheus metrics): `read_text(response)`, charset from the Content-Type, UTF-8
  by default.
- Bytes: `read_bytes(response)`, the whole body in memory.
- Download (WASM): build `Download(dest)` before sending (a bad destination fails before
  the request), send with `stream=True`, then `Download.save(response)` streams the body
  to a path or a binary file in constant memory and returns the byte count. A path is
  written through a temporary file beside it and renamed over it only once the whole
  body arrived, so an error never leaves a partial file.

A reply body that breaks off, stalls or is shorter than its Content-Length raises
`APIConnectionError` (`APITimeoutError` for a stall) with a one-line message.
"""

from __future__ import annotations

import abc
import contextlib
import email.message
import os
import re
import secrets
import stat
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from types import TracebackType
from typing import IO, Self
from urllib.parse import urlencode

from controldeck.errors import APIConnectionError, InvalidArgumentError

__all__ = [
    "BodyReader",
    "ContentBody",
    "FileBody",
    "FormBody",
    "JsonBody",
    "MultipartBody",
    "Part",
    "Payload",
    "RequestBody",
    "charset_of",
    "content_body",
]

# Files are read and downloads written in blocks of this size: the memory bound.
BLOCK_SIZE = 64 * 1024

# RFC 7230 token characters, for the type and subtype of a media type.
_MEDIA_TYPE = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~-]+/[A-Za-z0-9!#$%&'*+.^_`|~-]+")
# RFC 2046 boundary characters (we never end one with a space, so space is left out).
_BOUNDARY = re.compile(r"[0-9A-Za-z'()+_,./:=?-]{1,70}")
# WHATWG multipart/form-data: these would end the quoted string or the header line.
_NAME_ESCAPES = str.maketrans({'"': "%22", "\r": "%0D", "\n": "%0A"})


# -- request bodies ------------------------------------------------------------------------


class RequestBody(abc.ABC):
    """A request body, built once per logical call and sendable any number of times.

    Attributes:
        content_type: The Content-Type header to send.
        length: The exact body length in bytes.

    Example:
        >>> body = ContentBody("kind: demo\\n", "text/plain")
        >>> with body.payload() as data:
        ...     session.post(url, data=data, headers={"Content-Type": body.content_type})
    """

    content_type: str
    length: int

    @abc.abstractmethod
    def payload(self) -> AbstractContextManager[Payload]:
        """A fresh payload for one attempt, to pass to requests as `data=`.

        Returns:
            A context manager yielding `bytes` or a `BodyReader` positioned at the start;
            leaving it closes any file the payload opened.

        Raises:
            InvalidArgumentError: A file of the body is gone or changed size since the body
                was built.

        Example:
            >>> with body.payload() as data:
            ...     session.post(url, data=data)
        """

    @abc.abstractmethod
    def describe(self) -> str:
        """A short description for logs that never includes the contents.

        Returns:
            Text like `<multipart: 2 parts (doc, _meta), 10 MiB>`.

        Example:
            >>> JsonBody(b'{"a":1}').describe()
            '<json: 7 B>'
        """

    def __repr__(self) -> str:
        return self.describe()


class _BytesBody(RequestBody):
    """A body held in memory: every attempt sends the same immutable bytes."""

    def __init__(self, content: bytes, content_type: str) -> None:
        self.content = content
        self.content_type = content_type
        self.length = len(content)

    def payload(self) -> AbstractContextManager[Payload]:
        return contextlib.nullcontext(self.content)


class JsonBody(_BytesBody):
    """An already serialised JSON body.

    Args:
        content: The JSON document, UTF-8 encoded.

    Raises:
        InvalidArgumentError: `content` is not bytes.

    Example:
        >>> JsonBody(b'{"name":"x"}').content_type
        'application/json'
    """

    def __init__(self, content: bytes) -> None:
        super().__init__(_require_bytes("JSON body", content), "application/json")

    def describe(self) -> str:
        return f"<json: {_size(self.length)}>"


class ContentBody(_BytesBody):
    """Raw bytes or text sent as they are, with a given content type.

    A `str` is encoded in the charset the content type declares, UTF-8 when it declares
    none; a `text/*` type without a charset then gets `; charset=utf-8`.

    Args:
        content: The body.
        content_type: Its media type, like `text/plain` or `application/octet-stream`.

    Raises:
        InvalidArgumentError: `content` is neither str nor bytes, the content type is
            malformed, or the text cannot be encoded in the declared charset.

    Example:
        >>> ContentBody("kind: demo\\n", "text/plain").content_type
        'text/plain; charset=utf-8'
    """

    def __init__(self, content: str | bytes, content_type: str) -> None:
        content_type = _check_content_type("content_type", content_type)
        if isinstance(content, str):
            declared = charset_of(content_type)
            if declared is None and _media_type(content_type).startswith("text/"):
                content_type += "; charset=utf-8"
            data = _encode(content, declared or "utf-8")
        else:
            data = _require_bytes("content", content)
        super().__init__(data, content_type)

    def describe(self) -> str:
        return f"<{_media_type(self.content_type)}: {_size(self.length)}>"


class FileBody(RequestBody):
    """A file sent as the whole body, streamed from disk in bounded blocks.

    The length comes from `os.stat` when the body is built; every attempt reopens the
    file, and a file that changed size in between is an error rather than a wrong body.

    Args:
        path: The file to send.
        content_type: Its media type.

    Raises:
        InvalidArgumentError: The path does not exist, is not a regular file or cannot be
            read, or the content type is malformed.

    Example:
        >>> body = FileBody(Path("app.wasm"), "application/octet-stream")
        >>> body.describe()
        '<file app.wasm: 3.2 MiB>'
    """

    def __init__(
        self, path: str | os.PathLike[str], content_type: str = "application/octet-stream"
    ) -> None:
        self.content_type = _check_content_type("content_type", content_type)
        self._span = _file_span("path", path)
        self.path = self._span.path
        self.length = self._span.size

    def payload(self) -> AbstractContextManager[Payload]:
        if not self.length:
            # requests would send an empty stream chunked; an empty body needs no file.
            return contextlib.nullcontext(b"")
        return BodyReader([self._span], self.length)

    def describe(self) -> str:
        return f"<file {os.path.basename(self.path)}: {_size(self.length)}>"


class Part:
    """One part of a multipart/form-data body.

    Args:
        name: The form field name (non-empty).
        content: Text (a field, UTF-8), bytes, or a path (`os.PathLike`) streamed from disk.
        filename: The filename to announce; defaults to the path's base name for a path,
            and to none for text and bytes.
        content_type: The part's Content-Type; defaults to `application/octet-stream` for
            bytes and paths and to none (meaning text/plain) for text.

    Raises:
        InvalidArgumentError: A bad name, filename, content type or content; a path that
            does not exist, is not a regular file or cannot be read.

    Example:
        >>> Part("doc", Path("report.pdf"), content_type="application/pdf")
        <Part doc: file report.pdf, application/pdf, 1.5 MiB>
    """

    __slots__ = ("_data", "content_type", "filename", "name", "size")

    def __init__(
        self,
        name: str,
        content: str | bytes | os.PathLike[str],
        *,
        filename: str | None = None,
        content_type: str | None = None,
    ) -> None:
        self.name = _require_text("part name", name)
        if filename is not None:
            filename = _require_text(f"filename of part {name!r}", filename)
        if content_type is not None:
            content_type = _check_content_type(f"content_type of part {name!r}", content_type)
        self._data: bytes | _FileSpan
        if isinstance(content, os.PathLike):
            self._data = _file_span(f"part {name!r}", content)
            filename = filename if filename is not None else os.path.basename(self._data.path)
            content_type = content_type or "application/octet-stream"
        elif isinstance(content, str):
            self._data = _encode(content, charset_of(content_type or "") or "utf-8")
        else:
            self._data = _require_bytes(f"content of part {name!r}", content, path_ok=True)
            content_type = content_type or "application/octet-stream"
        self.filename = filename
        self.content_type = content_type
        self.size = self._data.size if isinstance(self._data, _FileSpan) else len(self._data)

    def _head(self, boundary: str) -> bytes:
        lines = [f"--{boundary}", f'Content-Disposition: form-data; name="{_quote(self.name)}"']
        if self.filename is not None:
            lines[-1] += f'; filename="{_quote(self.filename)}"'
        if self.content_type is not None:
            lines.append(f"Content-Type: {self.content_type}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")

    def __repr__(self) -> str:
        file = f" file {_quote(self.filename)}," if self.filename is not None else ""
        kind = self.content_type or "text"
        return f"<Part {_quote(self.name)}:{file} {kind}, {_size(self.size)}>"


class MultipartBody(RequestBody):
    """A multipart/form-data body (RFC 7578) whose file parts stream from disk.

    The whole length is computed up front, so requests sends a Content-Length instead of
    chunking. The boundary is random per body and kept across attempts.

    Args:
        parts: The parts, in order (at least one; names may repeat).
        boundary: A fixed boundary (tests); random by default.

    Raises:
        InvalidArgumentError: No parts, something that is not a `Part`, or a boundary
            RFC 2046 does not allow.

    Example:
        >>> body = MultipartBody([
        ...     Part("doc", Path("a.pdf")),
        ...     Part("_meta", '{"triggered_by":"me"}', content_type="application/json"),
        ... ])
        >>> body.describe()
        '<multipart: 2 parts (doc, _meta), 10 MiB>'
    """

    def __init__(self, parts: Iterable[Part], *, boundary: str | None = None) -> None:
        if isinstance(parts, Part | str | bytes) or not isinstance(parts, Iterable):
            raise InvalidArgumentError(f"parts must be a list of Part, got {type(parts).__name__}")
        self.parts = list(parts)
        if not self.parts:
            raise InvalidArgumentError("a multipart body needs at least one part")
        for i, part in enumerate(self.parts):
            if not isinstance(part, Part):
                raise InvalidArgumentError(f"parts[{i}] must be a Part, got {type(part).__name__}")
        if boundary is None:
            boundary = "controldeck-" + secrets.token_hex(16)
        elif not isinstance(boundary, str) or not _BOUNDARY.fullmatch(boundary):
            raise InvalidArgumentError("boundary must be 1-70 RFC 2046 boundary characters")
        self.boundary = boundary
        self.content_type = f"multipart/form-data; boundary={boundary}"
        self._segments = self._build_segments()
        self.length = sum(s.size if isinstance(s, _FileSpan) else len(s) for s in self._segments)

    def _build_segments(self) -> list[bytes | _FileSpan]:
        """Headers and in-memory parts joined into as few bytes segments as possible."""
        segments: list[bytes | _FileSpan] = []
        pending = bytearray()
        for part in self.parts:
            pending += part._head(self.boundary)
            if isinstance(part._data, _FileSpan):
                segments += [bytes(pending), part._data]
                pending = bytearray()
            else:
                pending += part._data
            pending += b"\r\n"
        pending += f"--{self.boundary}--\r\n".encode("ascii")
        segments.append(bytes(pending))
        return segments

    def payload(self) -> AbstractContextManager[Payload]:
        return BodyReader(self._segments, self.length)

    def describe(self) -> str:
        names = ", ".join(_quote(p.name) for p in self.parts)
        if len(names) > 60:
            names = names[:59] + "…"
        count = len(self.parts)
        return f"<multipart: {count} part{'s' * (count != 1)} ({names}), {_size(self.length)}>"


class FormBody(_BytesBody):
    """An `application/x-www-form-urlencoded` body.

    Args:
        fields: Field names and values, as a mapping or (name, value) pairs (names may
            repeat in pairs).

    Raises:
        InvalidArgumentError: A name that is not a non-empty string, or a value that is
            not a string.

    Example:
        >>> FormBody({"grant_type": "refresh_token", "scope": "a b"}).content
        b'grant_type=refresh_token&scope=a+b'
    """

    def __init__(self, fields: Mapping[str, str] | Iterable[tuple[str, str]]) -> None:
        if isinstance(fields, str | bytes) or not isinstance(fields, Mapping | Iterable):
            raise InvalidArgumentError(
                f"form fields must be a mapping or (name, value) pairs, got {type(fields).__name__}"
            )
        pairs = list(fields.items() if isinstance(fields, Mapping) else fields)
        for i, pair in enumerate(pairs):
            if not isinstance(pair, tuple) or len(pair) != 2:
                raise InvalidArgumentError(f"form field {i} must be a (name, value) pair")
            name, value = pair
            _require_text(f"form field {i} name", name)
            if not isinstance(value, str):
                raise InvalidArgumentError(
                    f"form field {name!r} must be a string, got {type(value).__name__}"
                )
        self.field_count = len(pairs)
        super().__init__(urlencode(pairs).encode("ascii"), "application/x-www-form-urlencoded")

    def describe(self) -> str:
        count = self.field_count
        return f"<form: {count} field{'s' * (count != 1)}, {_size(self.length)}>"


def content_body(content: str | bytes | os.PathLike[str], content_type: str) -> RequestBody:
    """A raw body from text, bytes or a file path (streamed), as uploads accept all three.

    Args:
        content: The body, or an `os.PathLike` naming a file to stream. A `str` is always
            the content itself, never a path.
        content_type: Its media type.

    Returns:
        A `FileBody` for a path, else a `ContentBody`.

    Raises:
        InvalidArgumentError: As for `FileBody` and `ContentBody`.

    Example:
        >>> content_body(Path("app.wasm"), "application/octet-stream")
        <file app.wasm: 3.2 MiB>
    """
    if isinstance(content, os.PathLike):
        return FileBody(content, content_type)
    return ContentBody(content, content_type)


# -- payload reader ------------------------------------------------------------------------


class _FileSpan:
    """A regular file of a known size, checked when the body was built."""

    __slots__ = ("path", "size")

    def __init__(self, path: str, size: int) -> None:
        self.path = path
        self.size = size


class BodyReader:
    """One attempt's read-once view of a body made of bytes and files.

    requests takes `len()` as the Content-Length and urllib3 pulls blocks with `read(n)`,
    so at most one block of a file is in memory at a time. The files are opened when the
    reader is made (a vanished file fails before anything is sent) and closed by `close()`.

    Example:
        >>> with MultipartBody([Part("a", b"x")]).payload() as reader:
        ...     first = reader.read(65536)
    """

    def __init__(self, segments: Sequence[bytes | _FileSpan], length: int) -> None:
        self._length = length
        self._items: list[bytes | tuple[IO[bytes], _FileSpan]] = []
        self._files: list[IO[bytes]] = []
        try:
            for segment in segments:
                if isinstance(segment, bytes):
                    self._items.append(segment)
                else:
                    file = _open_span(segment)
                    self._files.append(file)
                    self._items.append((file, segment))
        except BaseException:
            self.close()
            raise
        self._index = 0
        self._offset = 0  # bytes already read from the current segment

    def __len__(self) -> int:
        return self._length

    def read(self, size: int = -1) -> bytes:
        """Up to `size` bytes, at most one block (all that is left when negative); `b""` at the end.

        Args:
            size: The most bytes to return.

        Returns:
            The next bytes of the body, possibly fewer than `size`.

        Raises:
            APIConnectionError: A file changed size while it was being sent.

        Example:
            >>> reader.read(16384)
        """
        if size < 0:
            return b"".join(iter(lambda: self.read(BLOCK_SIZE), b""))
        size = min(size, BLOCK_SIZE)
        while size and self._index < len(self._items):
            item = self._items[self._index]
            if isinstance(item, bytes):
                chunk = item[self._offset : self._offset + size]
            else:
                file, span = item
                chunk = file.read(min(size, span.size - self._offset))
                # Short before the promised size, or more after it: the Content-Length
                # already sent would be a lie either way.
                if not chunk and (self._offset < span.size or file.read(1)):
                    raise APIConnectionError(
                        f"upload aborted: {span.path!r} changed size while it was being sent "
                        f"(expected {span.size} bytes)"
                    )
            if chunk:
                self._offset += len(chunk)
                return chunk
            self._index += 1
            self._offset = 0
        return b""

    def __iter__(self) -> Iterator[bytes]:
        return iter(lambda: self.read(BLOCK_SIZE), b"")

    def close(self) -> None:
        """Close every file this reader opened (again is harmless).

        Example:
            >>> reader.close()
        """
        for file in self._files:
            file.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


Payload = bytes | BodyReader
"""What one attempt passes to requests as `data=`."""


def _file_span(what: str, path: object) -> _FileSpan:
    if not isinstance(path, str | os.PathLike):
        raise InvalidArgumentError(f"{what} must be a path, got {type(path).__name__}")
    name = os.fspath(path)
    if not isinstance(name, str):
        raise InvalidArgumentError(f"{what} must be a str path, got bytes")
    try:
        info = os.stat(name)
    except OSError as exc:
        raise InvalidArgumentError(f"{what}: cannot read {name!r}: {exc.strerror}") from None
    if stat.S_ISDIR(info.st_mode):
        raise InvalidArgumentError(f"{what}: {name!r} is a directory, not a file")
    if not stat.S_ISREG(info.st_mode):
        raise InvalidArgumentError(f"{what}: {name!r} is not a regular file")
    if not os.access(name, os.R_OK):
        raise InvalidArgumentError(f"{what}: {name!r} is not readable")
    return _FileSpan(name, info.st_size)


def _open_span(span: _FileSpan) -> IO[bytes]:
    try:
        # Unbuffered: the reader already asks for whole blocks, and a buffer would copy them.
        file = open(span.path, "rb", buffering=0)  # noqa: SIM115 - the reader closes it
    except OSError as exc:
        raise InvalidArgumentError(f"cannot open {span.path!r}: {exc.strerror}") from None
    size = os.fstat(file.fileno()).st_size
    if size != span.size:
        file.close()
        raise InvalidArgumentError(
            f"{span.path!r} changed size since the request was built ({span.size} -> {size} bytes)"
        )
    return file


# -- small helpers ---------------------------------------------------------------------------


def _require_text(what: str, value: object) -> str:
    if not isinstance(value, str):
        raise InvalidArgumentError(f"{what} must be a string, got {type(value).__name__}")
    if not value:
        raise InvalidArgumentError(f"{what} must not be empty")
    return value


def _require_bytes(what: str, value: object, *, path_ok: bool = False) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, bytearray | memoryview):
        return bytes(value)
    kinds = "str, bytes or a path (os.PathLike)" if path_ok else "bytes"
    raise InvalidArgumentError(f"{what} must be {kinds}, got {type(value).__name__}")


def _check_content_type(what: str, value: object) -> str:
    if not isinstance(value, str):
        raise InvalidArgumentError(f"{what} must be a string, got {type(value).__name__}")
    if any(c in value for c in "\r\n\0"):
        raise InvalidArgumentError(f"{what} holds a line break")
    if not _MEDIA_TYPE.fullmatch(_media_type(value)) or not value.isascii():
        raise InvalidArgumentError(f"{what} must be a media type like 'text/plain', got {value!r}")
    return value


def _media_type(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def charset_of(content_type: str) -> str | None:
    """The lower-cased charset parameter of a Content-Type, or None.

    Args:
        content_type: A Content-Type header value.

    Returns:
        The charset, like `utf-8`, or None when the header names none.

    Example:
        >>> charset_of('text/plain; charset="UTF-8"')
        'utf-8'
    """
    if "charset" not in content_type.lower():
        return None
    message = email.message.Message()
    message["Content-Type"] = content_type
    return message.get_content_charset()


def _encode(text: str, charset: str) -> bytes:
    try:
        return text.encode(charset)
    except LookupError:
        raise InvalidArgumentError(f"unknown charset {charset!r}") from None
    except UnicodeEncodeError as exc:
        raise InvalidArgumentError(
            f"text cannot be encoded as {charset} (character {exc.start}); "
            "declare charset=utf-8 or pass bytes"
        ) from None


def _quote(value: str) -> str:
    return value.translate(_NAME_ESCAPES)


def _size(count: int) -> str:
    if count < 1024:
        return f"{count} B"
    value = float(count)
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        value /= 1024
        if value < 1024 or unit == "TiB":
            break
    return f"{value:.1f}".removesuffix(".0") + f" {unit}"
