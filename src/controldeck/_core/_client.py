"""What every platform client shares: construction, transport, closing, a safe repr."""

from __future__ import annotations

from types import TracebackType
from typing import Self

import requests

from controldeck._core import _constants as C
from controldeck._core._transport import ErrorParser, Timeout, Transport, parse_generic_error

__all__ = ["BaseClient"]


class BaseClient:
    """Base of the platform clients. Subclasses add the platform's methods.

    A client can be shared between threads and used as a context manager.
    """

    _platform = "controldeck"

    def __init__(
        self,
        *,
        base_url: str,
        headers: dict[str, str] | None = None,
        secrets: tuple[str, ...] = (),
        timeout: Timeout = C.DEFAULT_TIMEOUT,
        max_retries: int = C.MAX_RETRIES,
        session: requests.Session | None = None,
        user_agent: str | None = None,
        error_parser: ErrorParser = parse_generic_error,
    ) -> None:
        self._transport = Transport(
            base_url=base_url,
            platform=self._platform,
            headers=headers,
            secrets=secrets,
            timeout=timeout,
            max_retries=max_retries,
            session=session,
            user_agent=user_agent,
            error_parser=error_parser,
        )

    @property
    def base_url(self) -> str:
        """The API root every request path is joined to."""
        return self._transport.base_url

    def close(self) -> None:
        """Close the HTTP sessions this client opened. Safe to call twice."""
        self._transport.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        # Never show credentials: only where the client points.
        return f"{type(self).__name__}(base_url={self.base_url!r})"
