"""What every platform client shares: construction, typed request helpers, copy, close.

A facade method validates its arguments and makes one typed helper call naming the wire
path and the generated type to decode into:

    def get_change(self, change_id: str, **options: Unpack[CallOptions]) -> Change:
        segment = path_segment("change_id", change_id)
        return self._get(f"/harmony/change/{segment}", Change, unwrap="data", **options)
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, ClassVar, Self, TypeVar, Unpack

import requests

from controldeck._core import _constants as C
from controldeck._core._auth import Auth
from controldeck._core._bodies import RequestBody
from controldeck._core._options import NOT_GIVEN, CallOptions, Timeout
from controldeck._core._pagination import Page
from controldeck._core._replies import ErrorParser, parse_generic_error
from controldeck._core._transport import Transport
from controldeck.errors import InvalidArgumentError, NotFoundError

if TYPE_CHECKING:
    import cattrs

__all__ = ["BaseClient", "from_env"]

T = TypeVar("T")
E = TypeVar("E")


def from_env(value: str | None, env_name: str) -> str | None:
    """`value` when given, else the environment variable (empty counts as unset)."""
    if value is not None:
        return value
    return os.environ.get(env_name) or None


class BaseClient:
    """Base of the platform clients. Subclasses add the platform's methods.

    A client can be shared between threads and used as a context manager; after `close()`
    (or the end of its `with` block) every call raises `ControlDeckError`.

    Every public method of a platform client also takes these keyword arguments
    (`CallOptions`):

    - `timeout`: seconds, or `(connect, read)` seconds, per attempt (default: the client's).
    - `deadline`: seconds the whole call may take, across retries and their waits.
    - `max_retries`: retries after the first attempt, for this call.
    - `extra_headers`: headers added to (and overriding) the client's for this call.
    """

    _platform = "controldeck"
    # The converter replies are structured with (None: the core's, built on first use);
    # tests of the fakes use a subclass whose converter forbids unknown keys.
    _converter: ClassVar[cattrs.Converter | None] = None

    def __init__(
        self,
        *,
        base_url: str,
        copy_args: Mapping[str, Any],
        auth: Auth | None = None,
        headers: Mapping[str, str] | None = None,
        secret_keys: Iterable[str] = (),
        timeout: Timeout = C.DEFAULT_TIMEOUT,
        deadline: float | None = None,
        max_retries: int = C.MAX_RETRIES,
        session: requests.Session | None = None,
        user_agent: str | None = None,
        error_parser: ErrorParser = parse_generic_error,
        idempotency_header: str | None = None,
        retry_advice: Callable[[requests.Response], bool | None] | None = None,
    ) -> None:
        """Build the transport.

        Args:
            copy_args: The subclass constructor's arguments, for `copy()`.
            (the rest): As for `Transport`.
        """
        self._copy_args = dict(copy_args)
        self._transport = Transport(
            base_url=base_url,
            platform=self._platform,
            auth=auth,
            headers=headers,
            secret_keys=secret_keys,
            timeout=timeout,
            deadline=deadline,
            max_retries=max_retries,
            session=session,
            user_agent=user_agent,
            error_parser=error_parser,
            converter=self._converter,
            idempotency_header=idempotency_header,
            retry_advice=retry_advice,
            client_name=type(self).__name__,
        )

    @property
    def base_url(self) -> str:
        """The API root every request path is joined to."""
        return self._transport.base_url

    def copy(self, **overrides: Any) -> Self:
        """A new client like this one, with some constructor arguments replaced.

        The copy has its own sessions; closing one does not close the other.

        Args:
            overrides: Any constructor argument (`token=`, `timeout=`, `max_retries=`...).

        Raises:
            InvalidArgumentError: An argument the constructor does not take.

        Example:
            >>> patient = client.copy(timeout=120, max_retries=5)
        """
        unknown = sorted(set(overrides) - set(self._copy_args))
        if unknown:
            raise InvalidArgumentError(
                f"{type(self).__name__}.copy() got unknown arguments: {', '.join(unknown)}"
            )
        return type(self)(**{**self._copy_args, **overrides})

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

    # -- typed helpers for the facades --------------------------------------------------

    def _structure(self, data: Any, cls: type[T]) -> T:
        """Decode JSON the transport did not decode itself (a stream frame) into `cls`.

        Raises:
            ResponseValidationError: `data` does not fit `cls` (with the JSON path).
        """
        # Here, not at the top: importing a platform must not load cattrs.
        from controldeck._core._convert import structure

        return structure(data, cls, converter=self._transport.converter)

    def _call(
        self,
        method: str,
        path: str,
        cast_to: type[T],
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = NOT_GIVEN,
        body: RequestBody | None = None,
        unwrap: str | None = None,
        auth: bool | Auth = True,
        idempotency_key: str | bool | None = None,
        idempotent: bool = False,
        secrets: Iterable[str] = (),
        **options: Unpack[CallOptions],
    ) -> T:
        """Send a request and structure its JSON reply (or `reply[unwrap]`) into `cast_to`.

        `idempotent=True` marks a call that is safe to repeat although its method is not
        (a read sent as POST), so it is retried like a GET."""
        result: T = self._transport.request(
            method,
            path,
            params=params,
            json=json,
            body=body,
            unwrap=unwrap,
            auth=auth,
            idempotency_key=idempotency_key,
            idempotent=idempotent,
            secrets=secrets,
            cast_to=cast_to,
            **options,
        )
        return result

    def _get(
        self,
        path: str,
        cast_to: type[T],
        *,
        params: Mapping[str, Any] | None = None,
        unwrap: str | None = None,
        **options: Unpack[CallOptions],
    ) -> T:
        """GET `path` and structure the reply into `cast_to`."""
        return self._call("GET", path, cast_to, params=params, unwrap=unwrap, **options)

    def _post(
        self,
        path: str,
        cast_to: type[T],
        *,
        json: Any = NOT_GIVEN,
        body: RequestBody | None = None,
        params: Mapping[str, Any] | None = None,
        unwrap: str | None = None,
        **options: Unpack[CallOptions],
    ) -> T:
        """POST (no body unless `json=`/`body=`) and structure the reply into `cast_to`."""
        return self._call(
            "POST", path, cast_to, json=json, body=body, params=params, unwrap=unwrap, **options
        )

    def _put(
        self, path: str, cast_to: type[T], *, json: Any = NOT_GIVEN, **options: Unpack[CallOptions]
    ) -> T:
        """PUT `json` and structure the reply into `cast_to`."""
        return self._call("PUT", path, cast_to, json=json, **options)

    def _patch(
        self, path: str, cast_to: type[T], *, json: Any = NOT_GIVEN, **options: Unpack[CallOptions]
    ) -> T:
        """PATCH `json` and structure the reply into `cast_to`."""
        return self._call("PATCH", path, cast_to, json=json, **options)

    def _get_text(
        self,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        **options: Unpack[CallOptions],
    ) -> str:
        """GET `path` and return its body as text (charset from the Content-Type, else
        UTF-8): Prometheus metrics, YAML, logs."""
        text: str = self._transport.request("GET", path, params=params, reply="text", **options)
        return text

    def _get_bytes(
        self,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        **options: Unpack[CallOptions],
    ) -> bytes:
        """GET `path` and return its body as bytes, read whole (use `Download` for big ones)."""
        data: bytes = self._transport.request("GET", path, params=params, reply="bytes", **options)
        return data

    def _no_reply(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = NOT_GIVEN,
        body: RequestBody | None = None,
        auth: bool | Auth = True,
        secrets: Iterable[str] = (),
        **options: Unpack[CallOptions],
    ) -> None:
        """Send a request whose reply body, if any, means nothing (204s, acknowledgements)."""
        self._transport.request(
            method,
            path,
            params=params,
            json=json,
            body=body,
            auth=auth,
            secrets=secrets,
            reply="none",
            **options,
        )

    def _delete(
        self,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        **options: Unpack[CallOptions],
    ) -> None:
        """DELETE `path`; the reply body, if any, is ignored."""
        self._no_reply("DELETE", path, params=params, **options)

    def _get_or_none(
        self,
        path: str,
        cast_to: type[T],
        *,
        params: Mapping[str, Any] | None = None,
        unwrap: str | None = None,
        **options: Unpack[CallOptions],
    ) -> T | None:
        """GET `path` into `cast_to`, or None when the server answers 404."""
        try:
            return self._get(path, cast_to, params=params, unwrap=unwrap, **options)
        except NotFoundError:
            return None

    def _delete_found(
        self,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        **options: Unpack[CallOptions],
    ) -> bool:
        """DELETE `path`: True when it was deleted, False when the server answers 404."""
        try:
            self._delete(path, params=params, **options)
        except NotFoundError:
            return False
        return True

    def _page(
        self,
        path: str,
        envelope: type[E],
        pager: Callable[[Callable[[Mapping[str, Any]], E], Mapping[str, Any]], Page[T]],
        *,
        params: Mapping[str, Any] | None = None,
        **options: Unpack[CallOptions],
    ) -> Page[T]:
        """GET a list envelope and wrap it in a lazy `Page` via the platform's `pager`."""

        def fetch(page_params: Mapping[str, Any]) -> E:
            return self._get(path, envelope, params=page_params, **options)

        return pager(fetch, params or {})
