"""Reading non-JSON replies: text, bytes, and downloads to a path or file in constant memory.

See `controldeck._core._bodies` for how a platform sends each body kind and reads each reply
kind. Errors while reading a body become `APIConnectionError` / `APITimeoutError` with a
one-line message, never a raw requests or urllib3 exception.
"""

from __future__ import annotations

import contextlib
import io
import os
import secrets
from typing import Protocol

import requests
import urllib3

from controldeck._core._bodies import BLOCK_SIZE, charset_of
from controldeck._core._describe import request_id_of, root_cause, strip_query
from controldeck.errors import (
    APIConnectionError,
    APITimeoutError,
    InvalidArgumentError,
    ResponseValidationError,
)

__all__ = ["Download", "Writable", "read_bytes", "read_text"]


class Writable(Protocol):
    """A binary file-like object a download can be written to.

    Example:
        >>> buffer = io.BytesIO()
        >>> Download(buffer).save(response)
        11
    """

    def write(self, data: bytes, /) -> object:
        """Write `data`.

        Args:
            data: The next bytes of the body.

        Returns:
            Anything; it is ignored.

        Example:
            >>> buffer.write(b"hello")
            5
        """


class Download:
    """Where a streamed reply body goes: a path (written atomically) or a binary file.

    Build it before sending the request, so a bad destination fails before anything is
    sent; then `save()` the 2xx response opened with `stream=True`.

    Args:
        dest: A file path, or a binary file object with `write()` (not closed by us).

    Raises:
        InvalidArgumentError: A path that is a directory or whose directory does not exist,
            or an object that is not a writable binary file.

    Example:
        >>> target = Download(Path("app.wasm"))
        >>> response = transport.send("GET", url, stream=True)
        >>> target.save(response)
        3355443
    """

    def __init__(self, dest: str | os.PathLike[str] | Writable) -> None:
        self.path: str | None = None
        self.file: Writable | None = None
        if isinstance(dest, str | os.PathLike):
            path = os.fspath(dest)
            if not isinstance(path, str) or not path:
                raise InvalidArgumentError("download path must be a non-empty str path")
            if os.path.isdir(path):
                raise InvalidArgumentError(f"download path {path!r} is a directory")
            directory = os.path.dirname(os.path.abspath(path))
            if not os.path.isdir(directory):
                raise InvalidArgumentError(f"download directory {directory!r} does not exist")
            self.path = path
        elif isinstance(dest, io.TextIOBase):
            raise InvalidArgumentError("download file must be opened in binary mode ('wb')")
        elif callable(getattr(dest, "write", None)):
            self.file = dest
        else:
            raise InvalidArgumentError(
                f"download destination must be a path or a binary file, got {type(dest).__name__}"
            )

    def save(self, response: requests.Response) -> int:
        """Stream the body to the destination in bounded blocks, then close the response.

        Args:
            response: A 2xx reply, opened with `stream=True` for constant memory.

        Returns:
            The number of body bytes written.

        Raises:
            APIConnectionError: The body broke off or ended before its Content-Length.
            APITimeoutError: The body stalled longer than the read timeout.
            OSError: The destination could not be written (disk full, permissions).

        Example:
            >>> Download(Path("app.wasm")).save(transport.send("GET", url, stream=True))
            3355443
        """
        with contextlib.closing(response):
            if self.path is None:
                assert self.file is not None
                return _copy_body(response, self.file)
            return self._save_to_path(response, self.path)

    def _save_to_path(self, response: requests.Response, path: str) -> int:
        directory, name = os.path.split(os.path.abspath(path))
        temp = os.path.join(directory, f".{name}.{secrets.token_hex(4)}.part")
        # 0o666 lets the umask decide the final mode, as for any file the user creates.
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
        fd = os.open(temp, flags, 0o666)
        try:
            with open(fd, "wb") as file:
                count = _copy_body(response, file)
            os.replace(temp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temp)
            raise
        return count

    def __repr__(self) -> str:
        return f"Download({self.path!r})" if self.path is not None else f"Download({self.file!r})"


def read_bytes(response: requests.Response) -> bytes:
    """The whole body of a 2xx reply, streamed or not.

    Args:
        response: The reply.

    Returns:
        The body.

    Raises:
        APIConnectionError: The body broke off or ended before its Content-Length.
        APITimeoutError: The body stalled longer than the read timeout.

    Example:
        >>> read_bytes(transport.send("GET", "/wasm/abc", params={"download": "true"}))
        b'\\x00asm...'
    """
    with contextlib.closing(response):
        try:
            content = response.content
        except requests.RequestException as exc:
            raise _read_error(response, exc) from exc
    expected = _expected_length(response)
    if expected is not None and len(content) < expected:
        raise _truncated(response, len(content), expected)
    return content


def read_text(response: requests.Response) -> str:
    """The body of a 2xx reply as text, in the Content-Type's charset (UTF-8 by default).

    Args:
        response: The reply.

    Returns:
        The decoded body.

    Raises:
        ResponseValidationError: The body is not valid in its charset, or the charset is
            unknown.
        APIConnectionError: The body broke off or ended before its Content-Length.
        APITimeoutError: The body stalled longer than the read timeout.

    Example:
        >>> read_text(transport.send("GET", "/metrics"))
        '# HELP beampipe_executions_total ...'
    """
    content = read_bytes(response)
    charset = charset_of(response.headers.get("Content-Type", "")) or "utf-8"
    try:
        return content.decode(charset)
    except (LookupError, UnicodeDecodeError) as exc:
        problem = (
            f"unknown charset {charset!r}"
            if isinstance(exc, LookupError)
            else f"not valid {charset} text (byte {exc.start})"
        )
        raise ResponseValidationError(
            f"{_where(response)}: the reply is {problem}",
            path="$",
            status_code=response.status_code,
            request_id=request_id_of(response),
        ) from None


def _copy_body(response: requests.Response, file: Writable) -> int:
    expected = _expected_length(response)
    received = 0
    chunks = response.iter_content(BLOCK_SIZE)
    while True:
        try:
            chunk = next(chunks, None)
        except requests.RequestException as exc:
            raise _read_error(response, exc) from exc
        if chunk is None:
            break
        file.write(chunk)
        received += len(chunk)
    if expected is not None and received < expected:
        raise _truncated(response, received, expected)
    return received


def _expected_length(response: requests.Response) -> int | None:
    """The Content-Length the decoded body must reach, when it is meaningful."""
    if response.headers.get("Content-Encoding", "identity").lower() != "identity":
        return None  # the header counts compressed bytes; requests hands us decoded ones
    try:
        return int(response.headers["Content-Length"])
    except (KeyError, ValueError):
        return None


def _read_error(response: requests.Response, exc: requests.RequestException) -> APIConnectionError:
    # No byte count of our own here: urllib3 holds back a partly filled block when the
    # read fails, so only its cause (IncompleteRead(600 bytes read, ...)) knows the figure.
    where = _where(response)
    if isinstance(exc, requests.Timeout) or (
        exc.args and isinstance(exc.args[0], urllib3.exceptions.ReadTimeoutError)
    ):
        return APITimeoutError(
            f"{where}: the reply body stalled (read timeout)",
            method=_method(response),
            url=_url(response),
        )
    expected = _expected_length(response)
    before = "" if expected is None else f" before all {expected} bytes arrived"
    return APIConnectionError(
        f"{where}: the reply body broke off{before} ({root_cause(exc)})",
        method=_method(response),
        url=_url(response),
    )


def _truncated(response: requests.Response, received: int, expected: int) -> APIConnectionError:
    return APIConnectionError(
        f"{_where(response)}: the reply body ended after {received} of {expected} bytes "
        "(Content-Length)",
        method=_method(response),
        url=_url(response),
    )


def _method(response: requests.Response) -> str:
    return (response.request.method or "?") if response.request is not None else "?"


def _url(response: requests.Response) -> str:
    # Some platforms put credentials in the query string: never repeat it.
    return strip_query(response.url or "")


def _where(response: requests.Response) -> str:
    return f"{_method(response)} {_url(response)}"
