"""`project(pid).drafts`: the exact requests sent and the values decoded."""

from __future__ import annotations

import json
from typing import Any

import pytest

from controldeck.akribes import AkribesClient
from controldeck.akribes._scripts import DraftsClient
from controldeck.errors import InvalidArgumentError, NotFoundError
from tests._conformance import ConformanceMock
from tests.akribes.conftest import BASE_URL, PID
from tests.akribes.test_scripts import assert_sent, only_request

pytestmark = pytest.mark.usefixtures("api")

DRAFT = f"{BASE_URL}/projects/{PID}/scripts/triage/draft"


@pytest.fixture
def drafts(client: AkribesClient) -> DraftsClient:
    return client.project(PID).drafts


def test_get_decodes_both_input_shapes(api: ConformanceMock, drafts: DraftsClient) -> None:
    reply: dict[str, Any] = {
        "source": "workflow main(ticket: string) {}",
        "inputs": [["ticket", "string"], {"name": "n", "ty": "int", "docs": "how many"}],
        "type_defs": {"Summary": {"fields": []}},
    }
    api.get(DRAFT, json=reply)

    draft = drafts.get("triage")

    assert_sent(only_request(api), "GET", DRAFT)
    assert draft is not None
    assert draft.source == "workflow main(ticket: string) {}"
    assert draft.inputs == [["ticket", "string"], {"name": "n", "ty": "int", "docs": "how many"}]
    assert draft.type_defs == {"Summary": {"fields": []}}


def test_get_returns_none_on_404(api: ConformanceMock, drafts: DraftsClient) -> None:
    api.get(DRAFT, status=404, json={"error": "no draft"})
    assert drafts.get("triage") is None


def test_save_leaves_false_flags_out(api: ConformanceMock, drafts: DraftsClient) -> None:
    api.put(DRAFT, json={"schema_warnings": []})

    saved = drafts.save("triage", "workflow main {}")

    assert_sent(only_request(api), "PUT", DRAFT, {"source": "workflow main {}"})
    assert saved.schema_warnings == []
    assert saved.diagnostics == []
    assert saved.analyzer_version is None


def test_save_with_flags_and_warnings(api: ConformanceMock, drafts: DraftsClient) -> None:
    reply: dict[str, Any] = {
        "schema_warnings": [
            {
                "client_id": "c-1",
                "client_name": "billing-worker",
                "channel": "production",
                "mismatch": {"missing": [["ticket", "string"]], "wrong_type": [], "extra": ["n"]},
            }
        ],
        "diagnostics": [
            {"code": "W1", "severity": "warning", "message": "unused", "line": 2, "col": 1}
        ],
        "analyzer_version": "0.26.2",
    }
    api.put(DRAFT, json=reply)

    saved = drafts.save("triage", "src", require_parse=True, format=True)

    assert_sent(
        only_request(api), "PUT", DRAFT, {"source": "src", "require_parse": True, "format": True}
    )
    warning = saved.schema_warnings[0]
    assert (warning.client_id, warning.client_name, warning.channel) == (
        "c-1",
        "billing-worker",
        "production",
    )
    assert warning.mismatch.missing == [("ticket", "string")]
    assert warning.mismatch.extra == ["n"]
    assert saved.diagnostics[0].severity == "warning"
    assert saved.diagnostics[0].end_col is None
    assert saved.analyzer_version == "0.26.2"


def test_save_sends_only_the_flag_that_is_set(api: ConformanceMock, drafts: DraftsClient) -> None:
    api.put(DRAFT, json={})
    drafts.save("triage", "", format=True)
    assert json.loads(only_request(api).body or b"") == {"source": "", "format": True}


def test_save_to_a_missing_script_raises(api: ConformanceMock, drafts: DraftsClient) -> None:
    api.put(DRAFT, status=404, json={"error": "script not found"})
    with pytest.raises(NotFoundError):
        drafts.save("triage", "x")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "", "source": "x"}, "name must not be empty"),
        ({"name": "triage", "source": None}, "source must be a string"),
        ({"name": "triage", "source": "x", "require_parse": 1}, "require_parse must be a bool"),
        ({"name": "triage", "source": "x", "format": "yes"}, "format must be a bool"),
    ],
)
def test_bad_save_arguments_send_nothing(
    api: ConformanceMock, drafts: DraftsClient, kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        drafts.save(**kwargs)
    assert len(api.calls) == 0


def test_get_with_an_empty_name_sends_nothing(api: ConformanceMock, drafts: DraftsClient) -> None:
    with pytest.raises(InvalidArgumentError, match="name must not be empty"):
        drafts.get(" ")
    assert len(api.calls) == 0
