"""`Page[T]`: one page of a list, iterable across every following page, lazily.

Iterating a page yields its items and then fetches the next page only when the previous
one is used up, holding one page at a time: memory stays constant however long the list.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Generic, Protocol, TypeVar, overload
from urllib.parse import parse_qs, urlsplit

__all__ = ["Page", "laravel_page", "numbered_pager", "offset_pager"]

T = TypeVar("T")


class Page(Generic[T]):
    """One page of results.

    Attributes:
        data: The items on this page.
        raw: The decoded envelope (links, meta), as the server sent it.

    Example:
        >>> page = client.list_changes()
        >>> page.data[0].id           # this page only
        >>> for change in page:      # this page, then every following page, lazily
        ...     print(change.id)
    """

    def __init__(
        self,
        data: list[T],
        *,
        raw: Any = None,
        fetch_next: Callable[[], Page[T]] | None = None,
        total: int | None = None,
        number: int | None = None,
        last: int | None = None,
    ) -> None:
        self.data = data
        self.raw = raw
        self.total = total
        self.number = number
        self.last = last
        self._fetch_next = fetch_next

    @property
    def has_next(self) -> bool:
        """Whether the server says another page follows.

        Example:
            >>> page = client.list_gateways()
            >>> while page is not None:
            ...     print(len(page.data), page.has_next)
            ...     page = page.next_page()
        """
        return self._fetch_next is not None

    def next_page(self) -> Page[T] | None:
        """Fetch the following page, or None on the last page.

        Example:
            >>> second = client.list_changes().next_page()
        """
        return self._fetch_next() if self._fetch_next is not None else None

    def iter_pages(self) -> Iterator[Page[T]]:
        """This page and every following one, fetched as the loop reaches them.

        Example:
            >>> for page in client.list_changes_for_gateway("gateway-bulk").iter_pages():
            ...     print(page.number, len(page.data))
            1 15
            2 15
            3 10
        """
        page: Page[T] | None = self
        while page is not None:
            yield page
            page = page.next_page()

    def __iter__(self) -> Iterator[T]:
        for page in self.iter_pages():
            yield from page.data

    def __len__(self) -> int:
        """Items on THIS page only; `list(page)` walks every page, `.total` is the server's
        count of all items."""
        return len(self.data)

    @overload
    def __getitem__(self, index: int) -> T: ...

    @overload
    def __getitem__(self, index: slice) -> list[T]: ...

    def __getitem__(self, index: int | slice) -> T | list[T]:
        """Items of THIS page, by index or slice."""
        return self.data[index]

    def __repr__(self) -> str:
        kind = f"[{type(self.data[0]).__name__}]" if self.data else ""
        where = f", page {self.number} of {self.last}" if self.number and self.last else ""
        total = f", total {self.total}" if self.total is not None else ""
        return f"<Page{kind} {len(self.data)} items{where}{total}>"

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(repr(self))
        if cycle:
            return
        for item in self.data[:10]:
            p.break_()
            p.text(f"  {item!r}")
        if len(self.data) > 10:
            p.break_()
            p.text(f"  … {len(self.data) - 10} more on this page")


class _Links(Protocol):
    next: str | None


class _Meta(Protocol):
    current_page: int
    last_page: int
    total: int


def _next_page_number(envelope: Any, current: int) -> int | None:
    links: _Links | None = getattr(envelope, "links", None)
    meta: _Meta | None = getattr(envelope, "meta", None)
    if meta is not None:
        current = meta.current_page
    following = None
    if links is not None and links.next:
        numbers = parse_qs(urlsplit(links.next).query).get("page")
        if numbers and numbers[0].isdigit():
            following = int(numbers[0])
    if following is None and meta is not None and meta.current_page < meta.last_page:
        following = meta.current_page + 1
    # A server that points back at this page (or before it) would loop forever.
    return following if following is not None and following > current else None


def laravel_page(fetch: Callable[[Mapping[str, Any]], Any], params: Mapping[str, Any]) -> Page[Any]:
    """Fetch a Laravel `{data, links, meta}` list page and wrap it in a lazy `Page`.

    Args:
        fetch: GETs the list with the given query and returns the decoded envelope.
        params: The first page's query (`page` absent means page 1).

    The next page is requested at our own path with `?page=N`, N read from `links.next`
    (or `meta.current_page + 1`): an absolute `links.next` is never followed as-is, so
    credentials cannot be sent to a host the server names.
    """
    envelope = fetch(params)
    current = int(params.get("page") or 1)
    following = _next_page_number(envelope, current)
    fetch_next = None
    if following is not None:
        next_params = {**params, "page": following}

        def fetch_next() -> Page[Any]:
            return laravel_page(fetch, next_params)

    meta = getattr(envelope, "meta", None)
    return Page(
        envelope.data,
        raw=envelope,
        fetch_next=fetch_next,
        total=getattr(meta, "total", None),
        number=getattr(meta, "current_page", None),
        last=getattr(meta, "last_page", None),
    )


def offset_pager(
    limit: int,
    *,
    limit_key: str = "limit",
    offset_key: str = "offset",
    lookahead: bool = False,
) -> Callable[[Callable[[Mapping[str, Any]], list[Any]], Mapping[str, Any]], Page[Any]]:
    """A pager for `?limit=&offset=` lists whose reply is a bare array.

    A full page (as many items as `limit`) means another may follow; a shorter one is the
    last. The server sends no total, so a list whose length is a multiple of `limit` costs
    one extra request that comes back empty, unless `lookahead`: then each request asks
    for one item more than a page holds, and that item only says whether another page
    follows (it comes again as the first item of the next page), so no request ever comes
    back empty.

    Args:
        limit: Items per page (with `lookahead`, `limit + 1` are asked for).
        limit_key: The query parameter carrying the page size.
        offset_key: The query parameter carrying the offset.
        lookahead: Ask for one item more to learn, without an empty request, that the list
            has ended. The server must accept `limit + 1`.

    Example:
        >>> self._page("/projects", list[Project], offset_pager(200))
    """
    ask = limit + 1 if lookahead else limit

    def pager(
        fetch: Callable[[Mapping[str, Any]], list[Any]], params: Mapping[str, Any]
    ) -> Page[Any]:
        offset = int(params.get(offset_key) or 0)
        rest = {k: v for k, v in params.items() if k not in (limit_key, offset_key)}
        query = {**rest, limit_key: ask, offset_key: offset}
        items = fetch(query)
        more = len(items) > limit if lookahead else len(items) >= limit
        if lookahead:
            items = items[:limit]
        fetch_next = None
        if more:

            def fetch_next() -> Page[Any]:
                return pager(fetch, {**params, offset_key: offset + len(items)})

        return Page(items, raw=items, fetch_next=fetch_next, number=offset // limit + 1)

    return pager


def numbered_pager(
    items_per_page: int, *, page_key: str = "page", size_key: str = "items_per_page"
) -> Callable[[Callable[[Mapping[str, Any]], Any], Mapping[str, Any]], Page[Any]]:
    """A pager for `?page=&items_per_page=` lists whose reply is an
    `{items, total, page, items_per_page}` envelope (pages numbered from 1).

    A page is the last one when it is short (fewer items than the page size) or when
    `page * items_per_page` reaches `total`; so an empty page is never requested, even
    when the list's length is a multiple of the page size. The page size used for that
    arithmetic is the one the server echoes (it may clamp the one asked for).

    The pages are read by number, so rows added or removed while iterating shift the
    later pages (an item can be seen twice or skipped), as with any offset paging.

    Args:
        items_per_page: Items asked for per page.
        page_key: The query parameter (and envelope attribute) carrying the page number.
        size_key: The query parameter (and envelope attribute) carrying the page size.

    Example:
        >>> self._page("/api/v2/executions", PaginatedExecutions, numbered_pager(50),
        ...            params={"page": 1, "status": "running"})
    """

    def pager(fetch: Callable[[Mapping[str, Any]], Any], params: Mapping[str, Any]) -> Page[Any]:
        requested = int(params.get(page_key) or 1)
        query = {**params, page_key: requested, size_key: items_per_page}
        envelope = fetch(query)
        items: list[Any] = envelope.items
        total: int = envelope.total
        # The server's echo: a clamped page size, or a page number it corrected.
        number = getattr(envelope, page_key, None) or requested
        size = getattr(envelope, size_key, None) or items_per_page
        last = max(1, math.ceil(total / size))
        fetch_next = None
        # A server that answers a different page than asked would make "number + 1" loop
        # forever or skip pages: continue only from the page that was asked for.
        if number == requested and len(items) >= size and number * size < total:
            next_params = {**params, page_key: number + 1}

            def fetch_next() -> Page[Any]:
                return pager(fetch, next_params)

        return Page(
            items, raw=envelope, fetch_next=fetch_next, total=total, number=number, last=last
        )

    return pager
