"""Secrets never reach a log line or an error: headers, JSON bodies, known secret values."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest
import responses

from controldeck._core._redact import MASK, Redactor, excerpt, redact_headers, redact_text
from controldeck._core._transport import Transport
from controldeck.errors import APIStatusError, ResponseValidationError

TOKEN = "s3cr3t-token-value"
BASE = "https://api.example.test"


class TestHeaders:
    def test_credential_headers_masked_case_insensitively(self) -> None:
        headers = {
            "Authorization": "Bearer x",
            "x-api-key": "k",
            "X-API-KEY": "k2",
            "Api-Key": "k3",
            "Cookie": "session=1",
            "Set-Cookie": "a=b",
            "Proxy-Authorization": "Basic y",
            "Accept": "application/json",
            "User-Agent": "controldeck/0.1.0",
        }
        assert redact_headers(headers) == {
            "Authorization": MASK,
            "x-api-key": MASK,
            "X-API-KEY": MASK,
            "Api-Key": MASK,
            "Cookie": MASK,
            "Set-Cookie": MASK,
            "Proxy-Authorization": MASK,
            "Accept": "application/json",
            "User-Agent": "controldeck/0.1.0",
        }

    def test_input_not_modified(self) -> None:
        headers = {"Authorization": "Bearer x"}
        redact_headers(headers)
        assert headers == {"Authorization": "Bearer x"}


class TestText:
    def test_json_secret_keys_masked_at_any_depth(self) -> None:
        text = json.dumps(
            {
                "name": "gw",
                "token": "t1",
                "nested": {"Password": "p", "list": [{"machine_token": "m", "ok": 1}]},
                "client_secret": None,
            }
        )
        # `machine_token` is Runbeam's: a platform's Redactor knows its spec's secret fields.
        assert json.loads(Redactor({"machine_token"}).text(text)) == {
            "name": "gw",
            "token": MASK,
            "nested": {"Password": MASK, "list": [{"machine_token": MASK, "ok": 1}]},
            "client_secret": MASK,
        }

    def test_the_core_knows_no_platform_field(self) -> None:
        text = json.dumps({"machine_token": "m", "authorization": "Bearer x", "Cookie": "c"})
        assert json.loads(redact_text(text)) == {
            "machine_token": "m",
            "authorization": MASK,  # a header name inside a body is masked too
            "Cookie": MASK,
        }

    @pytest.mark.parametrize("key", ["accessToken", "apiKey", "ClientSecret", "refresh-token"])
    def test_camel_and_dashed_keys_masked(self, key: str) -> None:
        assert json.loads(redact_text(json.dumps({key: "v", "id": 1}))) == {key: MASK, "id": 1}

    def test_lookalike_keys_kept(self) -> None:
        body = {"token_id": "tok_1", "tokens": 5, "secretive": "no"}
        assert json.loads(redact_text(json.dumps(body))) == body

    def test_top_level_list(self) -> None:
        assert json.loads(redact_text('[{"token": "a"}, 1]')) == [{"token": MASK}, 1]

    def test_secret_values_masked_in_any_text(self) -> None:
        text = f"<html>bad token {TOKEN}</html> and again {TOKEN}"
        assert redact_text(text, [TOKEN]) == f"<html>bad token {MASK}</html> and again {MASK}"

    def test_secret_values_masked_in_json_under_any_key(self) -> None:
        out = redact_text(json.dumps({"echo": f"Bearer {TOKEN}"}), [TOKEN])
        assert TOKEN not in out
        assert json.loads(out) == {"echo": f"Bearer {MASK}"}

    def test_truncated_json_still_masks_values(self) -> None:
        text = '{"token": "' + TOKEN + '", "more": '
        out = redact_text(text, [TOKEN])
        assert out == '{"token": "' + MASK + '", "more": '

    def test_short_and_empty_secrets_ignored(self) -> None:
        # Masking "a" would mangle every message; secrets that short are not real ones.
        assert redact_text("a cat", ["a", "", "cat"]) == "a cat"
        assert redact_text("a cats", ["cats"]) == f"a {MASK}"


class TestExcerpt:
    def test_empty(self) -> None:
        assert excerpt(None, 10) == ""
        assert excerpt(b"", 10) == ""

    def test_short_body_unchanged(self) -> None:
        assert excerpt(b"hello", 10) == "hello"
        assert excerpt("hello", 5) == "hello"

    def test_long_body_cut_to_limit(self) -> None:
        out = excerpt("x" * 600, 500)
        assert len(out) == 500
        assert out == "x" * 499 + "…"

    def test_invalid_utf8_replaced(self) -> None:
        assert excerpt(b"ok \xff\xfe end", 100) == "ok \ufffd\ufffd end"

    def test_masks_before_cutting(self) -> None:
        # A secret straddling the cut must not leave its first half behind.
        text = "y" * 495 + TOKEN
        out = excerpt(text, 500, [TOKEN])
        assert "s3cr" not in out
        assert out.startswith("y" * 495 + "<red")


# -- through the transport ---------------------------------------------------------------


@pytest.fixture
def rsps() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock() as mock:
        yield mock


@pytest.fixture
def transport() -> Iterator[Transport]:
    t = Transport(
        base_url=BASE,
        platform="test",
        headers={"Authorization": f"Bearer {TOKEN}", "X-Api-Key": "key-123456"},
        secrets=(TOKEN, "key-123456"),
        max_retries=0,
    )
    yield t
    t.close()


def test_debug_log_masks_headers_params_and_body(
    rsps: responses.RequestsMock, transport: Transport, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="controldeck")
    rsps.post(f"{BASE}/x", json={"ok": True})
    transport.request(
        "POST",
        "/x",
        params={"token": TOKEN, "q": f"has {TOKEN} inside", "page": 2},
        json={"token": TOKEN, "note": f"echo {TOKEN}", "password": "hunter2!"},
    )
    # It really went out unmasked...
    sent = rsps.calls[0].request
    assert TOKEN in str(sent.url)
    assert sent.headers["Authorization"] == f"Bearer {TOKEN}"
    # ...but the log never shows it.
    records = [r for r in caplog.records if r.name == "controldeck"]
    assert any(
        r.levelno == logging.DEBUG and r.getMessage().startswith("request POST") for r in records
    )
    assert TOKEN not in caplog.text
    assert "key-123456" not in caplog.text
    assert "hunter2!" not in caplog.text
    assert '"page": 2' in caplog.text


def test_status_error_masks_echoed_secrets(
    rsps: responses.RequestsMock, transport: Transport
) -> None:
    echo = {"message": f"invalid token {TOKEN}", "token": TOKEN, "errors": None}
    rsps.get(f"{BASE}/x", status=401, json=echo)
    with pytest.raises(APIStatusError) as info:
        transport.request("GET", "/x", params={"token": TOKEN})
    err = info.value
    for shown in (str(err), repr(err), err.body_excerpt, err.message):
        assert TOKEN not in shown
    assert err.message == f"invalid token {MASK}"
    assert json.loads(err.body_excerpt)["token"] == MASK


def test_validation_error_masks_secrets_and_query(
    rsps: responses.RequestsMock, transport: Transport
) -> None:
    rsps.get(f"{BASE}/x", body=f"<html>{TOKEN}</html>", content_type="text/html")
    with pytest.raises(ResponseValidationError) as info:
        transport.request("GET", "/x", params={"token": TOKEN})
    err = info.value
    for shown in (str(err), repr(err), err.body_excerpt):
        assert TOKEN not in shown
    assert str(err) == f"GET {BASE}/x: expected a JSON reply, got text/html (31 bytes)"
