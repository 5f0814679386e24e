"""Beampipe auth: construction, login, refresh rotation, proactive renewal, logout."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest
import requests
import responses

from controldeck.beampipe import BeampipeClient, TokenPair
from controldeck.beampipe._auth import REFRESH_LEEWAY, BeampipeAuth, jwt_expiry
from controldeck.errors import (
    AuthenticationError,
    BadRequestError,
    InternalServerError,
    InvalidArgumentError,
    PermissionDeniedError,
)
from tests._conformance import ConformanceMock
from tests.beampipe.conftest import API, AUTH, BASE_URL, NOW, TOKEN, error_body, jwt

USER = {
    "uuid": "0192f0c4-9a3b-7c1d-8e2f-0000000000a1",
    "name": "Admin",
    "username": "admin",
    "email": "admin@example.org",
    "profile_image_url": "https://example.org/a.png",
    "is_superuser": True,
    "created_at": NOW,
    "updated_at": None,
}
UNAUTHORIZED = error_body(
    "unauthorized", "authentication failed", cls="authentication", retry="after_remediation"
)
REVOKED = error_body("bad_request", "token revoked", cls="validation", retry="after_remediation")


def pair(n: int) -> dict[str, str]:
    return {"access_token": f"access-{n}", "refresh_token": f"refresh-{n}", "token_type": "bearer"}


def body(call: Any) -> Any:
    return json.loads(call.request.body)


class TestConstruction:
    def test_defaults_to_the_local_server(self) -> None:
        with BeampipeClient() as client:
            assert client.base_url == "http://127.0.0.1:8080"

    def test_environment(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("BEAMPIPE_BASE_URL", "http://bp.example:9000")
        monkeypatch.setenv("BEAMPIPE_TOKEN", "env-token")
        monkeypatch.setenv("BEAMPIPE_USERNAME", "alice")
        monkeypatch.setenv("BEAMPIPE_PASSWORD", "alice-pw")
        with BeampipeClient() as client:
            assert client.base_url == "http://bp.example:9000"
            assert client.access_token == "env-token"
            assert "alice-pw" not in repr(client)
            assert (
                repr(client)
                == "BeampipeClient(base_url='http://bp.example:9000', username='alice')"
            )

    @pytest.mark.parametrize(
        ("kwargs", "message"),
        [
            ({"base_url": "ftp://x"}, "http"),
            ({"base_url": "http://h:8080/api/v2"}, "adds /api/v2"),
            ({"username": "alice"}, "username given without password"),
            ({"password": "pw"}, "password given without username"),
            ({"token": "has space"}, "whitespace"),
            ({"refresh_token": ""}, "must not be empty"),
        ],
    )
    def test_bad_arguments(self, kwargs: dict[str, Any], message: str) -> None:
        with pytest.raises(InvalidArgumentError, match=message):
            BeampipeClient(**kwargs)

    def test_a_bad_url_from_the_environment_names_the_variable(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("BEAMPIPE_BASE_URL", "http://bp.example:9000/api/v2/")
        with pytest.raises(InvalidArgumentError) as info:
            BeampipeClient()
        assert str(info.value) == (
            "base_url (from BEAMPIPE_BASE_URL) is the server's origin (http://host:8080) and "
            "the client adds /api/v2: got 'http://bp.example:9000/api/v2/'"
        )
        monkeypatch.setenv("BEAMPIPE_BASE_URL", "bp.example:9000")
        with pytest.raises(InvalidArgumentError, match=r"^base_url \(from BEAMPIPE_BASE_URL\)"):
            BeampipeClient()

    def test_no_credentials_fails_before_sending(self, api: ConformanceMock) -> None:
        with (
            BeampipeClient(BASE_URL) as client,
            pytest.raises(InvalidArgumentError, match=r"call client\.login"),
        ):
            client.current_user()
        assert len(api.calls) == 0

    def test_auth_repr_hides_tokens(self) -> None:
        auth = BeampipeAuth("secret-access", "secret-refresh", username="u", password="pw")
        assert "secret" not in repr(auth) and "pw" not in repr(auth)
        assert set(auth.secrets()) == {"secret-access", "secret-refresh", "pw"}


class TestLogin:
    def test_login_stores_the_pair(self, api: ConformanceMock) -> None:
        api.post(f"{API}/login", json=pair(1))
        api.get(f"{API}/user/me", json=USER)
        with BeampipeClient(BASE_URL) as client:
            reply = client.login("admin", "admin-password")
            assert (reply.access_token, reply.refresh_token, reply.token_type) == (
                "access-1",
                "refresh-1",
                "bearer",
            )
            assert "access-1" not in repr(reply)
            me = client.current_user()
        login, user = api.calls
        assert body(login) == {"username": "admin", "password": "admin-password"}
        assert login.request.headers["Content-Type"] == "application/json"
        assert "Authorization" not in login.request.headers
        assert user.request.headers["Authorization"] == "Bearer access-1"
        assert me.username == "admin" and me.is_superuser is True and me.updated_at is None

    def test_wrong_password(self, api: ConformanceMock) -> None:
        api.post(f"{API}/login", status=401, json=UNAUTHORIZED)
        with BeampipeClient(BASE_URL) as client, pytest.raises(AuthenticationError) as info:
            client.login("admin", "wrong-password")
        assert info.value.code == "unauthorized"
        assert "wrong-password" not in str(info.value)
        assert client.access_token is None

    def test_username_and_password_log_in_on_first_use(self, api: ConformanceMock) -> None:
        api.post(f"{API}/login", json=pair(1))
        api.get(f"{API}/user/me", json=USER)
        with BeampipeClient(BASE_URL, username="admin", password="admin-password") as client:
            client.current_user()
            client.current_user()
        assert [c.request.path_url for c in api.calls] == [
            "/api/v2/login",
            "/api/v2/user/me",
            "/api/v2/user/me",
        ]
        assert body(api.calls[0]) == {"username": "admin", "password": "admin-password"}

    def test_arguments_checked(self, api: ConformanceMock, client: BeampipeClient) -> None:
        with pytest.raises(InvalidArgumentError):
            client.login("", "pw")
        with pytest.raises(InvalidArgumentError):
            client.login("admin", None)  # type: ignore[arg-type]
        assert len(api.calls) == 0


class TestRefreshOn401:
    def test_refreshes_once_and_replays(self, api: ConformanceMock) -> None:
        api.get(f"{API}/user/me", status=401, json=UNAUTHORIZED)
        api.post(f"{API}/refresh", json=pair(2))
        api.get(f"{API}/user/me", json=USER)
        with BeampipeClient(BASE_URL, TOKEN, refresh_token="refresh-1") as client:
            assert client.current_user().username == "admin"
            assert (client.access_token, client.refresh_token) == ("access-2", "refresh-2")
        first, refresh, replay = api.calls
        assert first.request.headers["Authorization"] == AUTH
        assert body(refresh) == {"refresh_token": "refresh-1"}
        assert "Authorization" not in refresh.request.headers
        assert replay.request.headers["Authorization"] == "Bearer access-2"

    def test_a_second_401_is_final(self, api: ConformanceMock) -> None:
        api.get(f"{API}/user/me", status=401, json=UNAUTHORIZED)
        api.post(f"{API}/refresh", json=pair(2))
        with (
            BeampipeClient(BASE_URL, TOKEN, refresh_token="refresh-1") as client,
            pytest.raises(AuthenticationError),
        ):
            client.current_user()
        assert [c.request.path_url for c in api.calls] == [
            "/api/v2/user/me",
            "/api/v2/refresh",
            "/api/v2/user/me",
        ]

    def test_without_a_refresh_token_a_401_is_final(self, api: ConformanceMock) -> None:
        api.get(f"{API}/user/me", status=401, json=UNAUTHORIZED, headers={"x-request-id": "r1"})
        with BeampipeClient(BASE_URL, TOKEN) as client, pytest.raises(AuthenticationError) as info:
            client.current_user()
        assert info.value.request_id == "r1"
        assert str(info.value).startswith("HTTP 401 [unauthorized]: authentication failed")
        assert len(api.calls) == 1

    def test_a_revoked_refresh_token_says_log_in_again(self, api: ConformanceMock) -> None:
        api.get(f"{API}/user/me", status=401, json=UNAUTHORIZED, headers={"x-request-id": "r9"})
        api.post(f"{API}/refresh", status=400, json=REVOKED)
        with BeampipeClient(BASE_URL, TOKEN, refresh_token="refresh-1") as client:
            with pytest.raises(AuthenticationError) as info:
                client.current_user()
            assert client.refresh_token is None  # a dead token is not presented again
        message = str(info.value)
        assert "refreshing it failed" in message and "token revoked" in message
        assert "client.login" in message
        assert info.value.request_id == "r9"
        assert "refresh-1" not in message

    def test_falls_back_to_login_when_the_refresh_token_is_rejected(
        self, api: ConformanceMock
    ) -> None:
        api.get(f"{API}/user/me", status=401, json=UNAUTHORIZED)
        api.post(f"{API}/refresh", status=401, json=UNAUTHORIZED)
        api.post(f"{API}/login", json=pair(3))
        api.get(f"{API}/user/me", json=USER)
        with BeampipeClient(
            BASE_URL, TOKEN, username="admin", password="pw", refresh_token="refresh-1"
        ) as client:
            client.current_user()
            assert client.refresh_token == "refresh-3"
        assert api.calls[-1].request.headers["Authorization"] == "Bearer access-3"

    def test_403_is_not_refreshed(self, api: ConformanceMock) -> None:
        forbidden = error_body(
            "forbidden", "superuser required", cls="authorization", retry="after_remediation"
        )
        api.get(f"{API}/user/me", status=403, json=forbidden)
        with (
            BeampipeClient(BASE_URL, TOKEN, refresh_token="refresh-1") as client,
            pytest.raises(PermissionDeniedError),
        ):
            client.current_user()
        assert len(api.calls) == 1


class TestRotationRace:
    """Two threads whose calls both get a 401: the refresh token is presented once."""

    def test_concurrent_401s_refresh_once(self) -> None:
        lock = threading.Lock()
        state = {"access": "access-1", "refresh": "refresh-1", "n": 1}
        refreshes: list[str] = []
        both_sent = threading.Barrier(2, timeout=5)

        def me(request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
            sent = request.headers["Authorization"].removeprefix("Bearer ")
            if sent == "access-0":
                both_sent.wait()  # both threads hold the stale token before either refreshes
                return 401, {}, json.dumps(UNAUTHORIZED)
            with lock:
                ok = sent == state["access"]
            return (200, {}, json.dumps(USER)) if ok else (401, {}, json.dumps(UNAUTHORIZED))

        def refresh(request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
            presented = json.loads(request.body or b"{}")["refresh_token"]
            with lock:
                refreshes.append(presented)
                if presented != state["refresh"]:
                    return 400, {}, json.dumps(REVOKED)  # rotation: a reused token is revoked
                state["n"] += 1
                n = state["n"]
                state["access"], state["refresh"] = f"access-{n}", f"refresh-{n}"
            time.sleep(0.05)  # a slow refresh widens the window for a second one
            return 200, {}, json.dumps(pair(n))

        with responses.RequestsMock() as mock:
            mock.add_callback("GET", f"{API}/user/me", callback=me)
            mock.add_callback("POST", f"{API}/refresh", callback=refresh)
            with BeampipeClient(BASE_URL, "access-0", refresh_token="refresh-1") as client:
                errors: list[BaseException] = []

                def call() -> None:
                    try:
                        client.current_user()
                    except BaseException as exc:  # pragma: no cover - reported below
                        errors.append(exc)

                threads = [threading.Thread(target=call) for _ in range(2)]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join(10)
                assert errors == []
                assert refreshes == ["refresh-1"]
                assert client.refresh_token == "refresh-2"


class TestProactiveRenewal:
    def test_a_jwt_close_to_exp_is_renewed_before_sending(self, api: ConformanceMock) -> None:
        now = time.time()
        expiring = jwt({"sub": "admin", "typ": "access", "exp": int(now + REFRESH_LEEWAY - 5)})
        fresh = jwt({"sub": "admin", "typ": "access", "exp": int(now + 1800)})
        api.post(
            f"{API}/refresh",
            json={"access_token": fresh, "refresh_token": "refresh-2", "token_type": "bearer"},
        )
        api.get(f"{API}/user/me", json=USER)
        with BeampipeClient(BASE_URL, expiring, refresh_token="refresh-1") as client:
            client.current_user()
            client.current_user()
        assert [c.request.path_url for c in api.calls] == [
            "/api/v2/refresh",
            "/api/v2/user/me",
            "/api/v2/user/me",
        ]
        assert api.calls[1].request.headers["Authorization"] == f"Bearer {fresh}"

    def test_a_fresh_jwt_is_used_as_is(self, api: ConformanceMock) -> None:
        fresh = jwt({"sub": "admin", "exp": int(time.time() + 1800)})
        api.get(f"{API}/user/me", json=USER)
        with BeampipeClient(BASE_URL, fresh, refresh_token="refresh-1") as client:
            client.current_user()
        assert len(api.calls) == 1

    def test_an_opaque_token_is_never_renewed_proactively(self, api: ConformanceMock) -> None:
        api.get(f"{API}/user/me", json=USER)
        with BeampipeClient(BASE_URL, "opaque-token", refresh_token="refresh-1") as client:
            client.current_user()
            assert client.refresh_token == "refresh-1"
        assert len(api.calls) == 1

    def test_a_failed_proactive_refresh_sends_the_still_valid_token(
        self, api: ConformanceMock
    ) -> None:
        expiring = jwt({"sub": "admin", "exp": int(time.time() + 30)})
        api.post(f"{API}/refresh", status=400, json=REVOKED)
        api.get(f"{API}/user/me", json=USER)
        with BeampipeClient(BASE_URL, expiring, refresh_token="refresh-1") as client:
            client.current_user()
        assert api.calls[1].request.headers["Authorization"] == f"Bearer {expiring}"

    def test_an_expired_jwt_whose_refresh_is_refused_says_log_in_again(
        self, api: ConformanceMock
    ) -> None:
        expired = jwt({"sub": "admin", "exp": int(time.time() - 10)})
        api.post(f"{API}/refresh", status=400, json=REVOKED, headers={"x-request-id": "r7"})
        with BeampipeClient(BASE_URL, expired, refresh_token="refresh-1") as client:
            with pytest.raises(AuthenticationError) as info:
                client.current_user()  # not a BadRequestError from a /refresh never called
            assert client.refresh_token is None
        assert str(info.value) == (
            "HTTP 401 [unauthorized]: the access token expired and refreshing it failed "
            "(HTTP 400 [bad_request]: token revoked); log in again with "
            "client.login(username, password) [request id: r7]"
        )
        assert [c.request.path_url for c in api.calls] == ["/api/v2/refresh"]

    def test_a_refused_first_login_names_the_user(self, api: ConformanceMock) -> None:
        api.post(f"{API}/login", status=401, json=UNAUTHORIZED)
        with (
            BeampipeClient(BASE_URL, username="admin", password="wrong-password") as client,
            pytest.raises(AuthenticationError) as info,
        ):
            client.current_user()
        message = str(info.value)
        assert message.startswith(
            "HTTP 401 [unauthorized]: logging in as 'admin' failed (HTTP 401 [unauthorized]: "
            "authentication failed); check the username and password"
        )
        assert "wrong-password" not in message

    def test_a_login_that_hits_a_server_error_is_raised_as_it_is(
        self, api: ConformanceMock
    ) -> None:
        busy = error_body("internal_error", "database down", cls="internal", retry="unsafe")
        api.post(f"{API}/login", status=500, json=busy)
        with (
            BeampipeClient(BASE_URL, username="admin", password="pw", max_retries=0) as client,
            pytest.raises(InternalServerError, match="database down"),
        ):
            client.current_user()

    def test_injected_clock(self) -> None:
        token = jwt({"exp": 1000})
        now = [0.0]
        auth = BeampipeAuth(token, "r", clock=lambda: now[0])
        auth.refresher = lambda r: TokenPair("access-new", "refresh-new")
        assert auth.auth_headers()["Authorization"] == f"Bearer {token}"
        now[0] = 1000 - REFRESH_LEEWAY
        assert auth.auth_headers()["Authorization"] == "Bearer access-new"
        assert auth.generation == 1

    @pytest.mark.parametrize(
        ("token", "expected"),
        [
            (jwt({"exp": 1700000000}), 1700000000.0),
            (jwt({"exp": "soon"}), None),
            (jwt({"sub": "x"}), None),
            ("a.b.c", None),
            ("opaque", None),
            ("x.bm90IGpzb24.y", None),
        ],
    )
    def test_jwt_expiry(self, token: str, expected: float | None) -> None:
        assert jwt_expiry(token) == expected


class TestExplicitRefreshAndLogout:
    def test_refresh_rotates(self, api: ConformanceMock) -> None:
        api.post(f"{API}/refresh", json=pair(2))
        with BeampipeClient(BASE_URL, TOKEN, refresh_token="refresh-1") as client:
            new = client.refresh()
            assert new == TokenPair("access-2", "refresh-2")
            assert client.refresh_token == "refresh-2"
        shown = (repr(new), str(new), f"{new}", repr([new]))
        assert not any("access-2" in text or "refresh-2" in text for text in shown)
        assert repr(new) == "TokenPair(access_token=<redacted>, refresh_token=<redacted>)"
        assert body(api.calls[0]) == {"refresh_token": "refresh-1"}

    def test_refresh_reused_token(self, api: ConformanceMock) -> None:
        api.post(f"{API}/refresh", status=400, json=REVOKED)
        with BeampipeClient(BASE_URL, TOKEN, refresh_token="refresh-1") as client:
            with pytest.raises(BadRequestError, match="token revoked"):
                client.refresh()
            assert client.refresh_token is None

    def test_refresh_without_a_refresh_token(self, api: ConformanceMock) -> None:
        with (
            BeampipeClient(BASE_URL, TOKEN) as client,
            pytest.raises(InvalidArgumentError, match="login"),
        ):
            client.refresh()
        assert len(api.calls) == 0

    def test_logout_revokes_both_and_forgets(self, api: ConformanceMock) -> None:
        api.post(f"{API}/logout", status=204)
        with BeampipeClient(BASE_URL, TOKEN, refresh_token="refresh-1") as client:
            client.logout()
            assert client.access_token is None and client.refresh_token is None
            with pytest.raises(InvalidArgumentError):
                client.current_user()
        assert body(api.calls[0]) == {"access_token": TOKEN, "refresh_token": "refresh-1"}
        assert "Authorization" not in api.calls[0].request.headers

    def test_logout_with_only_an_access_token(self, api: ConformanceMock) -> None:
        api.post(f"{API}/logout", status=204)
        with BeampipeClient(BASE_URL, TOKEN) as client:
            client.logout()
        assert body(api.calls[0]) == {"access_token": TOKEN}

    def test_logout_without_tokens(self, api: ConformanceMock) -> None:
        with (
            BeampipeClient(BASE_URL) as client,
            pytest.raises(InvalidArgumentError, match="no token"),
        ):
            client.logout()
        assert len(api.calls) == 0

    def test_a_copy_shares_the_tokens(self, api: ConformanceMock) -> None:
        api.get(f"{API}/user/me", status=401, json=UNAUTHORIZED)
        api.post(f"{API}/refresh", json=pair(2))
        api.get(f"{API}/user/me", json=USER)
        client = BeampipeClient(BASE_URL, TOKEN, refresh_token="refresh-1")
        copy = client.copy(timeout=9)
        client.close()  # the copy renews through its own sessions
        copy.current_user()
        assert client.refresh_token == copy.refresh_token == "refresh-2"
        copy.close()
        assert [c.request.path_url for c in api.calls][-2:] == [
            "/api/v2/refresh",
            "/api/v2/user/me",
        ]

    def test_a_copy_with_its_own_token_does_not_share(self) -> None:
        with (
            BeampipeClient(BASE_URL, TOKEN, refresh_token="r") as client,
            client.copy(token="other-token") as other,
        ):
            assert other.access_token == "other-token"
            assert other.refresh_token == "r"
            assert client.access_token == TOKEN


def test_dropped_copies_are_not_kept_alive() -> None:
    import gc
    import weakref

    with BeampipeClient(BASE_URL, TOKEN, refresh_token="r") as client:
        copies = [weakref.ref(client.copy(timeout=5)) for _ in range(3)]
        gc.collect()
        assert [ref() for ref in copies] == [None, None, None]
        assert list(client._sharers) == [client]
