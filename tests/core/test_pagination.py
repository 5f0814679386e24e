"""`Page[T]` and `laravel_page`: lazy, bounded, never following a foreign host."""

from __future__ import annotations

import gc
import json
import weakref
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import attrs
import pytest
import requests
import responses

from controldeck._core import _pagination
from controldeck._core._pagination import Page
from controldeck._core._pagination import laravel_page as _laravel_page
from controldeck._core._transport import Transport

BASE = "https://api.example.test/api"
URL = f"{BASE}/gateways"


@attrs.define(kw_only=True)
class Item:
    id: int


@attrs.define(kw_only=True)
class Links:
    next: str | None = None
    prev: str | None = None


@attrs.define(kw_only=True)
class Meta:
    current_page: int
    last_page: int
    total: int


@attrs.define(kw_only=True)
class Envelope:
    data: list[Item]
    links: Links | None = None
    meta: Meta | None = None


PER_PAGE = 2


def laravel_body(
    page: int, last: int, *, next_url: str | bool | None = True, meta: bool = True
) -> dict[str, Any]:
    """A Laravel paginator body; `next_url=True` means the usual `?page=N+1` link."""
    items = [{"id": (page - 1) * PER_PAGE + i} for i in range(PER_PAGE)]
    if next_url is True:
        next_url = f"{URL}?page={page + 1}" if page < last else None
    body: dict[str, Any] = {"data": items, "links": {"next": next_url or None, "prev": None}}
    if meta:
        body["meta"] = {"current_page": page, "last_page": last, "total": last * PER_PAGE}
    return body


def page_param(request: requests.PreparedRequest) -> int:
    assert request.url is not None
    return int(parse_qs(urlsplit(request.url).query).get("page", ["1"])[0])


@pytest.fixture
def rsps() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock() as mock:
        yield mock


@pytest.fixture
def transport() -> Iterator[Transport]:
    t = Transport(base_url=BASE, platform="test", sleep=lambda _: None)
    yield t
    t.close()


def laravel_page(
    transport: Transport,
    path: str,
    envelope: type[Any],
    *,
    params: dict[str, Any] | None = None,
    **options: Any,
) -> Page[Any]:
    """A Laravel list fetched through the transport, as a facade's `_page` helper does."""

    def fetch(page_params: Any) -> Any:
        return transport.request("GET", path, params=page_params, cast_to=envelope, **options)

    return _laravel_page(fetch, params or {})


def serve(
    rsps: responses.RequestsMock, body_for: Callable[[int], dict[str, Any]], url: str = URL
) -> None:
    def callback(request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        return 200, {"Content-Type": "application/json"}, json.dumps(body_for(page_param(request)))

    rsps.add_callback(responses.GET, url, callback=callback)


def requested_urls(rsps: responses.RequestsMock) -> list[str]:
    return [str(call.request.url) for call in rsps.calls]


class TestLaravelPage:
    def test_walks_every_page_then_stops(
        self, rsps: responses.RequestsMock, transport: Transport
    ) -> None:
        serve(rsps, lambda n: laravel_body(n, 3))
        page = laravel_page(transport, "/gateways", Envelope)
        assert [item.id for item in page] == [0, 1, 2, 3, 4, 5]
        assert requested_urls(rsps) == [URL, f"{URL}?page=2", f"{URL}?page=3"]

    def test_first_page_attributes(
        self, rsps: responses.RequestsMock, transport: Transport
    ) -> None:
        serve(rsps, lambda n: laravel_body(n, 3))
        page = laravel_page(transport, "/gateways", Envelope)
        assert page.data == [Item(id=0), Item(id=1)]
        assert page[1] == Item(id=1)
        assert len(page) == 2
        assert (page.number, page.last, page.total) == (1, 3, 6)
        assert isinstance(page.raw, Envelope)
        assert page.has_next is True
        assert repr(page) == "<Page[Item] 2 items, page 1 of 3, total 6>"

    def test_next_page_and_last_page(
        self, rsps: responses.RequestsMock, transport: Transport
    ) -> None:
        serve(rsps, lambda n: laravel_body(n, 2))
        first = laravel_page(transport, "/gateways", Envelope)
        second = first.next_page()
        assert second is not None
        assert second.data == [Item(id=2), Item(id=3)]
        assert second.number == 2
        assert second.has_next is False
        assert second.next_page() is None
        assert len(rsps.calls) == 2
        assert [p.number for p in first.iter_pages()] == [1, 2]

    def test_keeps_params_and_headers_on_every_page(
        self, rsps: responses.RequestsMock, transport: Transport
    ) -> None:
        serve(rsps, lambda n: laravel_body(n, 2))
        page = laravel_page(
            transport,
            "/gateways",
            Envelope,
            params={"status": "active", "skip": None},
            extra_headers={"X-Team": "t1"},
        )
        list(page)
        assert requested_urls(rsps) == [
            f"{URL}?status=active",
            f"{URL}?status=active&page=2",
        ]
        assert all(call.request.headers["X-Team"] == "t1" for call in rsps.calls)

    def test_starting_page_from_params(
        self, rsps: responses.RequestsMock, transport: Transport
    ) -> None:
        serve(rsps, lambda n: laravel_body(n, 4))
        page = laravel_page(transport, "/gateways", Envelope, params={"page": 3})
        assert [item.id for item in page] == [4, 5, 6, 7]
        assert requested_urls(rsps) == [f"{URL}?page=3", f"{URL}?page=4"]

    def test_foreign_host_in_links_next_is_never_requested(
        self, rsps: responses.RequestsMock, transport: Transport
    ) -> None:
        # Only our own host is registered: a request elsewhere would fail the test.
        def body(n: int) -> dict[str, Any]:
            evil = f"https://evil.example/steal?page={n + 1}" if n < 3 else None
            return laravel_body(n, 3, next_url=evil)

        serve(rsps, body)
        transport.headers["Authorization"] = "Bearer secret"
        ids = [item.id for item in laravel_page(transport, "/gateways", Envelope)]
        assert ids == [0, 1, 2, 3, 4, 5]
        assert requested_urls(rsps) == [URL, f"{URL}?page=2", f"{URL}?page=3"]
        assert all(urlsplit(u).hostname == "api.example.test" for u in requested_urls(rsps))

    def test_meta_only_fallback(self, rsps: responses.RequestsMock, transport: Transport) -> None:
        def body(n: int) -> dict[str, Any]:
            full = laravel_body(n, 3)
            del full["links"]
            return full

        serve(rsps, body)
        assert [i.id for i in laravel_page(transport, "/gateways", Envelope)] == list(range(6))
        assert len(rsps.calls) == 3

    def test_links_only_without_meta(
        self, rsps: responses.RequestsMock, transport: Transport
    ) -> None:
        serve(rsps, lambda n: laravel_body(n, 2, meta=False))
        page = laravel_page(transport, "/gateways", Envelope)
        assert (page.number, page.last, page.total) == (None, None, None)
        assert repr(page) == "<Page[Item] 2 items>"
        assert [i.id for i in page] == [0, 1, 2, 3]

    def test_next_pointing_at_same_page_does_not_loop(
        self, rsps: responses.RequestsMock, transport: Transport
    ) -> None:
        serve(rsps, lambda n: laravel_body(n, 5, next_url=f"{URL}?page={n}"))
        page = laravel_page(transport, "/gateways", Envelope, params={"page": 2})
        # meta says 2 of 5, but the explicit link points back at 2: stop, don't spin.
        assert page.has_next is False
        assert [i.id for i in page] == [2, 3]
        assert len(rsps.calls) == 1

    def test_next_pointing_backwards_does_not_loop(
        self, rsps: responses.RequestsMock, transport: Transport
    ) -> None:
        serve(rsps, lambda n: laravel_body(n, 5, next_url=f"{URL}?page=1"))
        page = laravel_page(transport, "/gateways", Envelope)
        assert page.has_next is False
        assert len(list(page)) == 2

    def test_next_link_without_page_number_falls_back_to_meta(
        self, rsps: responses.RequestsMock, transport: Transport
    ) -> None:
        serve(rsps, lambda n: laravel_body(n, 2, next_url=f"{URL}?cursor=abc" if n < 2 else None))
        assert [i.id for i in laravel_page(transport, "/gateways", Envelope)] == [0, 1, 2, 3]
        assert requested_urls(rsps) == [URL, f"{URL}?page=2"]

    def test_lazy(self, rsps: responses.RequestsMock, transport: Transport) -> None:
        serve(rsps, lambda n: laravel_body(n, 3))
        page = laravel_page(transport, "/gateways", Envelope)
        assert len(rsps.calls) == 1
        items = iter(page)
        assert len(rsps.calls) == 1
        assert next(items).id == 0
        assert next(items).id == 1
        assert len(rsps.calls) == 1  # page 1 used up, page 2 not yet needed
        assert next(items).id == 2
        assert len(rsps.calls) == 2
        assert page.data == [Item(id=0), Item(id=1)]  # iterating does not change the page

    def test_empty_last_page(self, rsps: responses.RequestsMock, transport: Transport) -> None:
        serve(rsps, lambda n: {"data": [], "links": {"next": None}, "meta": None})
        page = laravel_page(transport, "/gateways", Envelope)
        assert list(page) == []
        assert page.has_next is False
        assert repr(page) == "<Page 0 items>"

    def test_old_pages_are_garbage_collected(
        self, rsps: responses.RequestsMock, transport: Transport, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        created: list[weakref.ref[Page[Any]]] = []

        class TrackedPage(Page[Any]):
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                super().__init__(*args, **kwargs)
                created.append(weakref.ref(self))

        monkeypatch.setattr(_pagination, "Page", TrackedPage)
        serve(rsps, lambda n: laravel_body(n, 200))
        first = laravel_page(transport, "/gateways", Envelope)
        count = 0
        alive_midway: list[int] = []
        for count, _item in enumerate(first, start=1):
            if count == 150 * PER_PAGE:  # on page 150
                gc.collect()
                alive_midway = [i + 1 for i, ref in enumerate(created) if ref() is not None]
        assert count == 200 * PER_PAGE
        assert len(created) == 200
        # Only the page the caller holds and the one being iterated are alive.
        assert alive_midway == [1, 150]
        gc.collect()
        assert [i + 1 for i, ref in enumerate(created) if ref() is not None] == [1]


class TestPage:
    def test_plain_page_without_next(self) -> None:
        page = Page([1, 2, 3])
        assert page.has_next is False
        assert page.next_page() is None
        assert list(page) == [1, 2, 3]
        assert list(page.iter_pages()) == [page]
        assert repr(page) == "<Page[int] 3 items>"

    def test_fetch_next_called_once_per_step(self) -> None:
        calls: list[int] = []

        def second() -> Page[str]:
            calls.append(2)
            return Page(["c"])

        page = Page(["a", "b"], fetch_next=second, total=3, number=1, last=2)
        assert calls == []
        assert list(page) == ["a", "b", "c"]
        assert calls == [2]
        assert repr(page) == "<Page[str] 2 items, page 1 of 2, total 3>"

    def test_repr_pretty(self) -> None:
        lines: list[str] = []

        class Printer:
            def text(self, s: str) -> None:
                lines.append(s)

            def break_(self) -> None:
                lines.append("\n")

        Page(list(range(12)))._repr_pretty_(Printer(), cycle=False)
        text = "".join(lines)
        assert text.startswith("<Page[int] 12 items>\n  0\n  1\n")
        assert "  9\n  … 2 more on this page" in text
        assert "10" not in text


# -- numbered_pager: `{items, total, page, items_per_page}` envelopes -----------------------

NUMBERED_URL = f"{BASE}/executions"


@attrs.define(kw_only=True)
class NumberedEnvelope:
    items: list[Item]
    total: int
    page: int
    items_per_page: int


def numbered_server(
    rsps: responses.RequestsMock, total: int, *, echo_size: int | None = None
) -> None:
    """A `?page=&items_per_page=` list of `total` items (ids 0..total-1), as Beampipe's."""

    def callback(request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        assert request.url is not None
        query = parse_qs(urlsplit(request.url).query)
        page = int(query["page"][0])
        size = echo_size or int(query["items_per_page"][0])
        ids = range((page - 1) * size, min(page * size, total))
        body = {
            "items": [{"id": i} for i in ids],
            "total": total,
            "page": page,
            "items_per_page": size,
        }
        return 200, {"Content-Type": "application/json"}, json.dumps(body)

    rsps.add_callback(responses.GET, NUMBERED_URL, callback=callback)


def numbered_page(
    transport: Transport, size: int, params: dict[str, Any] | None = None
) -> Page[Any]:
    def fetch(page_params: Any) -> Any:
        return transport.request("GET", "/executions", params=page_params, cast_to=NumberedEnvelope)

    return _pagination.numbered_pager(size)(fetch, params or {})


def requested_pages(rsps: responses.RequestsMock) -> list[tuple[int, int]]:
    pages = []
    for call in rsps.calls:
        assert call.request.url is not None
        query = parse_qs(urlsplit(call.request.url).query)
        pages.append((int(query["page"][0]), int(query["items_per_page"][0])))
    return pages


def test_numbered_pager_walks_pages_and_stops_after_a_short_one(
    rsps: responses.RequestsMock, transport: Transport
) -> None:
    numbered_server(rsps, total=5)
    page = numbered_page(transport, 2)
    assert [item.id for item in page] == [0, 1, 2, 3, 4]
    assert requested_pages(rsps) == [(1, 2), (2, 2), (3, 2)]


def test_numbered_pager_never_fetches_an_empty_page_at_an_exact_multiple(
    rsps: responses.RequestsMock, transport: Transport
) -> None:
    numbered_server(rsps, total=4)
    first = numbered_page(transport, 2)
    assert [item.id for item in first] == [0, 1, 2, 3]
    # page 2 is full, but 2 * 2 reaches total=4: no request for an empty page 3.
    assert requested_pages(rsps) == [(1, 2), (2, 2)]
    second = first.next_page()
    assert second is not None and second.has_next is False


def test_numbered_pager_page_attributes(rsps: responses.RequestsMock, transport: Transport) -> None:
    numbered_server(rsps, total=5)
    page = numbered_page(transport, 2)
    assert (page.number, page.last, page.total) == (1, 3, 5)
    assert page.data == [Item(id=0), Item(id=1)]
    assert isinstance(page.raw, NumberedEnvelope)
    assert page.has_next is True
    assert repr(page) == "<Page[Item] 2 items, page 1 of 3, total 5>"
    assert len(rsps.calls) == 1  # lazy: nothing more until asked


def test_numbered_pager_empty_list_is_one_request(
    rsps: responses.RequestsMock, transport: Transport
) -> None:
    numbered_server(rsps, total=0)
    page = numbered_page(transport, 50)
    assert list(page) == []
    assert (page.number, page.last, page.total, page.has_next) == (1, 1, 0, False)
    assert requested_pages(rsps) == [(1, 50)]


def test_numbered_pager_starts_at_the_given_page_and_keeps_filters(
    rsps: responses.RequestsMock, transport: Transport
) -> None:
    numbered_server(rsps, total=7)
    page = numbered_page(transport, 2, {"page": 3, "status": "running"})
    assert [item.id for item in page] == [4, 5, 6]
    assert requested_pages(rsps) == [(3, 2), (4, 2)]
    assert all("status=running" in str(call.request.url) for call in rsps.calls)


def test_numbered_pager_uses_the_page_size_the_server_echoes(
    rsps: responses.RequestsMock, transport: Transport
) -> None:
    # Asked for 10 per page, the server clamps to 3: 3 full pages of 9 items, no 4th.
    numbered_server(rsps, total=9, echo_size=3)
    page = numbered_page(transport, 10)
    assert (page.number, page.last) == (1, 3)
    assert [item.id for item in page] == list(range(9))
    assert requested_pages(rsps) == [(1, 10), (2, 10), (3, 10)]


def test_numbered_pager_stops_when_the_server_answers_another_page(
    rsps: responses.RequestsMock, transport: Transport
) -> None:
    body = {"items": [{"id": 0}, {"id": 1}], "total": 10, "page": 1, "items_per_page": 2}
    rsps.add(responses.GET, NUMBERED_URL, json=body)
    # Asked for page 2, answered page 1: following "page 2" again would loop forever.
    page = numbered_page(transport, 2, {"page": 2})
    assert page.number == 1
    assert page.has_next is False
    assert len(list(page)) == 2
    assert len(rsps.calls) == 1


def test_numbered_pager_short_page_ends_even_if_total_says_more(
    rsps: responses.RequestsMock, transport: Transport
) -> None:
    # Rows deleted while paging: total still says 10, but page 2 is short, so it is the last.
    rsps.add(
        responses.GET,
        NUMBERED_URL,
        json={"items": [{"id": 0}, {"id": 1}], "total": 10, "page": 1, "items_per_page": 2},
    )
    rsps.add(
        responses.GET,
        NUMBERED_URL,
        json={"items": [{"id": 2}], "total": 10, "page": 2, "items_per_page": 2},
    )
    page = numbered_page(transport, 2)
    assert [item.id for item in page] == [0, 1, 2]
    assert requested_pages(rsps) == [(1, 2), (2, 2)]


def _offset_fetcher(total: int, calls: list[dict[str, Any]]) -> Callable[..., list[int]]:
    def fetch(query: dict[str, Any]) -> list[int]:
        calls.append(dict(query))
        start = int(query["offset"])
        return list(range(total))[start : start + int(query["limit"])]

    return fetch


@pytest.mark.parametrize("total", [0, 1, 2, 3, 4, 5, 6])
def test_offset_pager_with_lookahead_never_asks_for_an_empty_page(total: int) -> None:
    calls: list[dict[str, Any]] = []
    page = _pagination.offset_pager(2, lookahead=True)(_offset_fetcher(total, calls), {"q": 1})
    assert list(page) == list(range(total))
    expected_offsets = list(range(0, total, 2)) or [0]  # one request per page, none empty
    assert [c["offset"] for c in calls] == expected_offsets
    assert all(c["limit"] == 3 and c["q"] == 1 for c in calls)
    pages = [len(p) for p in page.iter_pages()]
    assert all(n == 2 for n in pages[:-1]) and (pages[-1] <= 2)


@pytest.mark.parametrize(("total", "requests_sent"), [(0, 1), (3, 2), (4, 3), (6, 4)])
def test_offset_pager_without_lookahead_pays_an_empty_page_at_a_multiple(
    total: int, requests_sent: int
) -> None:
    calls: list[dict[str, Any]] = []
    page = _pagination.offset_pager(2)(_offset_fetcher(total, calls), {})
    assert list(page) == list(range(total))
    assert len(calls) == requests_sent
    assert all(c["limit"] == 2 for c in calls)
