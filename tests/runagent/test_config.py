"""`resolve_settings`: argument > environment > default, local addresses, validation."""

from __future__ import annotations

import pathlib
from typing import Any

import attrs
import pytest

from controldeck.errors import InvalidArgumentError
from controldeck.runagent import _config
from controldeck.runagent._config import (
    DEFAULT_CLOUD_URL,
    LocalAgent,
    Settings,
    resolve_settings,
)
from controldeck.runagent._errors import (
    AUTHENTICATION_ERROR,
    AgentNotFoundError,
    RunAgentAuthenticationError,
    RunAgentError,
)
from tests.runagent.test_registry import AGENT, SERVING, make_registry

KEY = "ra_live_SECRET_key_123"


def cloud(**kwargs: Any) -> Settings:
    return resolve_settings(AGENT, "echo", **kwargs)


def local(**kwargs: Any) -> Settings:
    return resolve_settings(AGENT, "echo", local=True, **kwargs)


@pytest.fixture
def no_registry_read(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any registry read fails the test."""

    def fail(*args: Any, **kwargs: Any) -> LocalAgent:
        raise AssertionError("the registry was read")

    monkeypatch.setattr(_config, "lookup_local_agent", fail)


class TestCloud:
    def test_defaults(self) -> None:
        s = cloud(api_key=KEY)
        assert s == Settings(
            agent_id=AGENT,
            entrypoint_tag="echo",
            local=False,
            api_root="https://backend.run-agent.ai/api/v1",
            ws_root="wss://backend.run-agent.ai/api/v1",
            api_key=KEY,
            host=None,
            port=None,
            registry_entry=None,
        )
        assert DEFAULT_CLOUD_URL == "https://backend.run-agent.ai"
        assert s.address == "https://backend.run-agent.ai"

    def test_key_from_environment(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("RUNAGENT_API_KEY", "env-key")
        assert cloud().api_key == "env-key"

    def test_key_argument_beats_environment(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("RUNAGENT_API_KEY", "env-key")
        assert cloud(api_key=KEY).api_key == KEY

    def test_base_url_from_environment(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("RUNAGENT_BASE_URL", "https://staging.run-agent.ai")
        s = cloud(api_key=KEY)
        assert s.api_root == "https://staging.run-agent.ai/api/v1"
        assert s.ws_root == "wss://staging.run-agent.ai/api/v1"

    def test_base_url_argument_beats_environment(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("RUNAGENT_BASE_URL", "https://staging.run-agent.ai")
        s = cloud(api_key=KEY, base_url="https://eu.run-agent.ai")
        assert s.api_root == "https://eu.run-agent.ai/api/v1"

    def test_empty_environment_counts_as_unset(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("RUNAGENT_BASE_URL", "")
        assert cloud(api_key=KEY).api_root == "https://backend.run-agent.ai/api/v1"

    @pytest.mark.parametrize(
        ("base_url", "api_root", "ws_root"),
        [
            # [PY]'s default has a trailing slash; every SDK strips it.
            ("https://backend.run-agent.ai/", "https://backend.run-agent.ai/api/v1", "wss:"),
            ("https://backend.run-agent.ai///", "https://backend.run-agent.ai/api/v1", "wss:"),
            ("  https://x.example  ", "https://x.example/api/v1", "wss:"),
            ("http://10.0.0.5:8080", "http://10.0.0.5:8080/api/v1", "ws:"),
            ("https://gw.example/runagent/", "https://gw.example/runagent/api/v1", "wss:"),
            # [RS] Config::load: a base URL without scheme gets https://.
            ("staging.run-agent.ai", "https://staging.run-agent.ai/api/v1", "wss:"),
            ("staging.run-agent.ai:8443/", "https://staging.run-agent.ai:8443/api/v1", "wss:"),
        ],
    )
    def test_base_url_forms(self, base_url: str, api_root: str, ws_root: str) -> None:
        s = cloud(api_key=KEY, base_url=base_url)
        assert s.api_root == api_root
        assert s.ws_root == ws_root + "//" + api_root.split("://", 1)[1]

    @pytest.mark.parametrize(
        "base_url",
        [
            "ftp://backend.run-agent.ai",
            "https://",
            "https://host/?token=abc",
            "https://host/#frag",
            "https://user:pw@host",
            "https://host:99999",
            "https://ho st",
            "ws://backend.run-agent.ai",
        ],
    )
    def test_bad_base_url_argument(self, base_url: str) -> None:
        with pytest.raises(InvalidArgumentError) as info:
            cloud(api_key=KEY, base_url=base_url)
        text = str(info.value)
        assert text.startswith("base_url must be an http(s) URL like https://backend.run-agent.ai")
        assert "token=abc" not in text  # never echo a query

    def test_blank_base_url_argument(self) -> None:
        with pytest.raises(InvalidArgumentError, match=r"^base_url must not be empty$"):
            cloud(api_key=KEY, base_url="  ")

    def test_bad_base_url_environment_is_named(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("RUNAGENT_BASE_URL", "ftp://x")
        with pytest.raises(InvalidArgumentError) as info:
            cloud(api_key=KEY)
        assert str(info.value) == (
            "RUNAGENT_BASE_URL must be an http(s) URL like https://backend.run-agent.ai, "
            "got 'ftp://x'"
        )

    def test_host_and_port_are_checked_but_unused(self) -> None:
        s = cloud(api_key=KEY, host="127.0.0.1", port=8450)
        assert (s.host, s.port, s.api_root) == (None, None, "https://backend.run-agent.ai/api/v1")
        with pytest.raises(InvalidArgumentError):
            cloud(api_key=KEY, port=0)

    def test_registry_never_read_in_cloud_mode(self, no_registry_read: None) -> None:
        assert cloud(api_key=KEY, enable_registry=True).registry_entry is None


class TestNoKey:
    @pytest.mark.parametrize("env", [None, "", "   "])
    def test_cloud_without_key(self, monkeypatch: pytest.MonkeyPatch, env: str | None) -> None:
        if env is not None:
            monkeypatch.setenv("RUNAGENT_API_KEY", env)
        with pytest.raises(RunAgentAuthenticationError) as info:
            cloud()
        exc = info.value
        assert exc.code == AUTHENTICATION_ERROR
        assert exc.message == "no API key for RunAgent Cloud"
        assert exc.suggestion == (
            "Set RUNAGENT_API_KEY or pass api_key=. For a local agent pass local=True."
        )
        assert exc.status_code is None

    def test_empty_key_argument(self) -> None:
        with pytest.raises(RunAgentAuthenticationError):
            cloud(api_key="")

    def test_key_with_newline_names_its_source(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("RUNAGENT_API_KEY", KEY + "\n")
        with pytest.raises(InvalidArgumentError) as info:
            cloud()
        assert str(info.value).startswith("RUNAGENT_API_KEY contains whitespace")
        assert KEY not in str(info.value)
        with pytest.raises(InvalidArgumentError, match=r"^api_key contains whitespace"):
            cloud(api_key="two words")

    def test_no_key_needed_locally(self) -> None:
        assert local(host="127.0.0.1", port=8450).api_key is None


class TestRepr:
    def test_key_never_in_repr_or_str(self, monkeypatch: pytest.MonkeyPatch) -> None:
        s = cloud(api_key=KEY)
        assert KEY not in repr(s)
        assert KEY not in str(s)
        assert "api_key" not in repr(s)
        assert repr(s).startswith(f"Settings(agent_id='{AGENT}', entrypoint_tag='echo'")

    def test_frozen(self) -> None:
        s = cloud(api_key=KEY)
        with pytest.raises(attrs.exceptions.FrozenInstanceError):
            s.api_key = "other"  # type: ignore[misc]


class TestLocal:
    def test_host_and_port_without_registry_read(self, no_registry_read: None) -> None:
        s = local(host="127.0.0.1", port=8451)
        assert s == Settings(
            agent_id=AGENT,
            entrypoint_tag="echo",
            local=True,
            api_root="http://127.0.0.1:8451/api/v1",
            ws_root="ws://127.0.0.1:8451/api/v1",
            api_key=None,
            host="127.0.0.1",
            port=8451,
            registry_entry=None,
        )
        assert s.address == "http://127.0.0.1:8451"

    def test_enable_registry_true_with_host_and_port_reads_nothing(
        self, no_registry_read: None
    ) -> None:
        assert local(host="localhost", port=8450, enable_registry=True).registry_entry is None

    def test_key_and_base_url_ignored(
        self, monkeypatch: pytest.MonkeyPatch, no_registry_read: None
    ) -> None:
        monkeypatch.setenv("RUNAGENT_API_KEY", "env-key")
        monkeypatch.setenv("RUNAGENT_BASE_URL", "not a url at all")
        s = local(host="127.0.0.1", port=8450, api_key=KEY, base_url="ftp://ignored")
        assert s.api_key is None
        assert s.api_root == "http://127.0.0.1:8450/api/v1"

    def test_ipv6_host_is_bracketed(self) -> None:
        s = local(host="::1", port=8450)
        assert s.host == "::1"
        assert s.api_root == "http://[::1]:8450/api/v1"
        assert s.ws_root == "ws://[::1]:8450/api/v1"
        assert local(host="[::1]", port=8450).api_root == "http://[::1]:8450/api/v1"

    def test_registry_gives_the_address(self, tmp_path: pathlib.Path) -> None:
        path = make_registry(tmp_path / "r.db", SERVING)
        s = local(registry_path=path)
        assert (s.host, s.port) == ("127.0.0.1", 8450)
        assert s.api_root == "http://127.0.0.1:8450/api/v1"
        assert s.registry_entry == LocalAgent(
            AGENT, "127.0.0.1", 8450, "serving", "/home/me/agents/echo", "default"
        )

    def test_registry_default_path(
        self, monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path
    ) -> None:
        make_registry(tmp_path / "runagent_local.db", SERVING)
        monkeypatch.setenv("RUNAGENT_CACHE_DIR", str(tmp_path))
        assert local().port == 8450

    def test_registry_is_the_local_default(self, tmp_path: pathlib.Path) -> None:
        path = make_registry(tmp_path / "r.db", SERVING)
        assert local(registry_path=path, enable_registry=None).registry_entry is not None

    def test_given_port_overrides_the_row(self, tmp_path: pathlib.Path) -> None:
        path = make_registry(tmp_path / "r.db", SERVING)
        s = local(registry_path=path, port=9001)
        assert (s.host, s.port) == ("127.0.0.1", 9001)
        assert s.registry_entry is not None and s.registry_entry.port == 8450

    def test_given_host_overrides_the_row(self, tmp_path: pathlib.Path) -> None:
        path = make_registry(tmp_path / "r.db", SERVING)
        s = local(registry_path=path, host="localhost")
        assert s.api_root == "http://localhost:8450/api/v1"

    def test_not_registered(self, tmp_path: pathlib.Path) -> None:
        with pytest.raises(AgentNotFoundError) as info:
            local(registry_path=tmp_path / "none.db")
        assert info.value.code == "AGENT_NOT_FOUND_LOCAL"
        assert not (tmp_path / "none.db").exists()

    def test_unreadable_registry(self, tmp_path: pathlib.Path) -> None:
        path = tmp_path / "bad.db"
        path.write_bytes(b"x" * 200)
        with pytest.raises(RunAgentError, match="file is not a database"):
            local(registry_path=path)

    @pytest.mark.parametrize(
        ("kwargs", "text"),
        [
            (
                {},
                "Host and port are required for local clients. Pass host= and port=, or "
                "enable_registry=True to look the agent up in the local registry.",
            ),
            (
                {"port": 8450},
                "Host is required for local clients. Pass host= and port=, or "
                "enable_registry=True to look the agent up in the local registry.",
            ),
            (
                {"host": "127.0.0.1"},
                "Port is required for local clients. Pass host= and port=, or "
                "enable_registry=True to look the agent up in the local registry.",
            ),
        ],
    )
    def test_registry_disabled_and_address_incomplete(
        self, no_registry_read: None, kwargs: dict[str, Any], text: str
    ) -> None:
        with pytest.raises(InvalidArgumentError) as info:
            local(enable_registry=False, **kwargs)
        assert str(info.value) == text


class TestValidation:
    @pytest.mark.parametrize(
        ("kwargs", "text"),
        [
            ({"agent_id": ""}, "agent_id must not be empty"),
            ({"agent_id": None}, "agent_id must be a string, got NoneType"),
            ({"agent_id": "a/b"}, "agent_id cannot contain '/', got 'a/b'"),
            ({"agent_id": "."}, "agent_id cannot be '.': it is a URL path step"),
            ({"entrypoint_tag": " "}, "entrypoint_tag must not be empty"),
            ({"entrypoint_tag": 3}, "entrypoint_tag must be a string, got int"),
            ({"entrypoint_tag": "x/y"}, "entrypoint_tag cannot contain '/', got 'x/y'"),
            ({"local": "yes"}, "local must be True or False, got 'yes'"),
            ({"local": 1}, "local must be True or False, got 1"),
            ({"enable_registry": "no"}, "enable_registry must be True or False, got 'no'"),
            ({"port": True}, "port must be an int, got bool"),
            ({"port": "8450"}, "port must be an int, got str"),
            ({"port": 8450.0}, "port must be an int, got float"),
            ({"port": 0}, "port must be 1-65535, got 0"),
            ({"port": 65536}, "port must be 1-65535, got 65536"),
            ({"host": ""}, "host must not be empty"),
            ({"host": 127}, "host must be a string, got int"),
            (
                {"host": "http://127.0.0.1"},
                "host must be a host name or IP address without a scheme, got "
                "'http://127.0.0.1'; e.g. host='127.0.0.1', port=8450",
            ),
            (
                {"host": "127.0.0.1/api"},
                "host must be a host name or IP address, got '127.0.0.1/api'; "
                "e.g. host='127.0.0.1', port=8450",
            ),
            (
                {"host": "my host"},
                "host must be a host name or IP address, got 'my host'; "
                "e.g. host='127.0.0.1', port=8450",
            ),
            ({"api_key": 5}, "api_key must be a string, got int"),
            ({"base_url": 5}, "base_url must be a string, got int"),
            ({"registry_path": 5}, "registry_path must be a path (str or os.PathLike), got int"),
        ],
    )
    @pytest.mark.parametrize("is_local", [True, False])
    def test_bad_argument(
        self, no_registry_read: None, kwargs: dict[str, Any], text: str, is_local: bool
    ) -> None:
        arguments: dict[str, Any] = {
            "agent_id": AGENT,
            "entrypoint_tag": "echo",
            "local": is_local,
            "host": "127.0.0.1",
            "port": 8450,
            "api_key": KEY,
            **kwargs,
        }
        with pytest.raises(InvalidArgumentError) as info:
            resolve_settings(
                arguments.pop("agent_id"), arguments.pop("entrypoint_tag"), **arguments
            )
        assert str(info.value) == text

    def test_long_values_cut_in_messages(self) -> None:
        with pytest.raises(InvalidArgumentError) as info:
            resolve_settings("a/" + "x" * 500, "echo", local=True, host="h", port=1)
        assert str(info.value) == "agent_id cannot contain '/', got '" + ("a/" + "x" * 97) + "…'"
        with pytest.raises(InvalidArgumentError) as info:
            local(host="http://" + "h" * 500, port=1)
        assert len(str(info.value)) < 250

    def test_validation_before_the_key_check(self) -> None:
        # A bad argument is reported as such, not as a missing key.
        with pytest.raises(InvalidArgumentError):
            resolve_settings("a/b", "echo")
