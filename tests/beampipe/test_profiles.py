"""Beampipe deployment profiles: the `kind`-tagged deployment union on the wire and decoded."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import pytest

from controldeck._generated.beampipe import (
    DaliugeAlgo,
    DaliugeManagerTopologyConfig,
    DaliugeTranslationConfig,
    DeploymentProfile,
    DeploymentProfileResponse,
    RestRemoteDeployment,
    SlurmRemoteDeployment,
    SlurmResourceConfig,
    UnknownDeploymentConfig,
)
from controldeck.beampipe import BeampipeClient
from controldeck.errors import (
    ConflictError,
    InvalidArgumentError,
    NotFoundError,
    PermissionDeniedError,
)
from tests._conformance import ConformanceMock
from tests.beampipe.conftest import API, AUTH, NOW, PROFILE_ID, error_body

MODULE = "wallaby_hires"
WHEN = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
OTHER_ID = "0192f0c4-9a3b-7c1d-8e2f-00000000d002"
THIRD_ID = "0192f0c4-9a3b-7c1d-8e2f-00000000d003"

# What the server stores and sends back for the profile `slurm_profile()` builds: serde
# fills every default, and `redact_value` masks `ssh_credential` (its key has "credential").
SLURM_STORED = {
    "kind": "slurm_remote",
    "login_node": "setonix.pawsey.org.au",
    "ssh_port": 22,
    "ssh_credential": "[REDACTED]",
    "account": "pawsey0411",
    "home_dir": "/home/bp",
    "log_dir": "/scratch/bp/logs",
    "exec_prefix": "srun -l",
    "dlg_root": "/scratch/bp/dlg",
    "facility": "setonix",
    "job_duration_minutes": 50,
    "num_nodes": 1,
    "num_islands": 1,
    "verbose_level": 1,
    "max_threads": 0,
    "all_nics": False,
    "zerorun": False,
    "sleepncopy": False,
    "check_with_session": False,
    "resources": {"partition": "work", "nodes": 1, "wall_time_minutes": 50},
    "manager_topology": {"co_host_dim": False},
}
REST_STORED = {
    "kind": "rest_remote",
    "deploy_host": "dlg.example.org",
    "deploy_port": 8001,
    "dim_port_for_tm": 8001,
    "use_https": True,
    "verify_ssl": True,
}
TRANSLATION = {"algo": "metis", "num_par": 1, "num_islands": 1, "tm_url": "http://dlg-tm.desk"}


def reply(
    deployment: dict[str, Any],
    *,
    uid: str = PROFILE_ID,
    name: str = "slurm-remote",
    module: str | None = MODULE,
    revision: int = 1,
) -> dict[str, Any]:
    """A `DeploymentProfileResponse` as the server writes it."""
    return {
        "uuid": uid,
        "name": name,
        "description": None,
        "project_module": module,
        "is_default": False,
        "max_concurrent_executions": None,
        "revision": revision,
        "spec_sha256": "ab" * 32,
        "translation": TRANSLATION,
        "deployment": deployment,
        "created_at": NOW,
        "updated_at": None,
    }


def slurm_profile(**overrides: Any) -> DeploymentProfile:
    fields: dict[str, Any] = {
        "name": "slurm-remote",
        "project_module": MODULE,
        "translation": DaliugeTranslationConfig(
            algo=DaliugeAlgo.METIS, num_par=1, num_islands=1, tm_url="http://dlg-tm.desk"
        ),
        "deployment": SlurmRemoteDeployment(
            login_node="setonix.pawsey.org.au",
            account="pawsey0411",
            home_dir="/home/bp",
            log_dir="/scratch/bp/logs",
            dlg_root="/scratch/bp/dlg",
            ssh_credential="setonix",
            job_duration_minutes=50,
            resources=SlurmResourceConfig(partition="work", nodes=1, wall_time_minutes=50),
        ),
    }
    fields.update(overrides)
    return DeploymentProfile(**fields)


def body(call: Any) -> Any:
    return json.loads(call.request.body)


def path(call: Any) -> str:
    return str(urlsplit(call.request.url).path)


def assert_request(call: Any, method: str, url_path: str, *, json_body: bool) -> None:
    assert call.request.method == method
    assert path(call) == url_path
    assert urlsplit(call.request.url).query == ""
    assert call.request.headers["Authorization"] == AUTH
    if json_body:
        assert call.request.headers["Content-Type"] == "application/json"


class TestCreate:
    def test_slurm_profile_goes_out_with_its_kind_and_only_the_set_fields(
        self, api: ConformanceMock, client: BeampipeClient
    ) -> None:
        api.post(f"{API}/deployment-profiles", status=201, json=reply(SLURM_STORED))
        created = client.create_deployment_profile(slurm_profile())
        call = api.calls[0]
        assert_request(call, "POST", "/api/v2/deployment-profiles", json_body=True)
        assert body(call) == {
            "name": "slurm-remote",
            "project_module": MODULE,
            "translation": TRANSLATION,
            "deployment": {
                "kind": "slurm_remote",
                "login_node": "setonix.pawsey.org.au",
                "account": "pawsey0411",
                "home_dir": "/home/bp",
                "log_dir": "/scratch/bp/logs",
                "dlg_root": "/scratch/bp/dlg",
                "ssh_credential": "setonix",
                "job_duration_minutes": 50,
                "resources": {"partition": "work", "nodes": 1, "wall_time_minutes": 50},
            },
        }
        assert isinstance(created, DeploymentProfileResponse)
        assert (created.uuid, created.revision, created.created_at) == (PROFILE_ID, 1, WHEN)
        deployment = created.deployment
        assert isinstance(deployment, SlurmRemoteDeployment)
        assert deployment.kind == "slurm_remote" and deployment.ssh_port == 22
        assert deployment.ssh_credential == "[REDACTED]"
        assert deployment.resources == SlurmResourceConfig(
            partition="work", nodes=1, wall_time_minutes=50
        )
        assert deployment.manager_topology == DaliugeManagerTopologyConfig(co_host_dim=False)
        assert created.translation.algo == DaliugeAlgo.METIS
        assert created.translation.tm_url == "http://dlg-tm.desk"

    def test_rest_profile(self, api: ConformanceMock, client: BeampipeClient) -> None:
        api.post(
            f"{API}/deployment-profiles",
            status=201,
            json=reply(REST_STORED, name="rest", module=None),
        )
        profile = DeploymentProfile(
            name="rest",
            is_default=True,
            max_concurrent_executions=2,
            translation=DaliugeTranslationConfig(),
            deployment=RestRemoteDeployment(deploy_host="dlg.example.org", use_https=True),
        )
        created = client.create_deployment_profile(profile)
        assert body(api.calls[0]) == {
            "name": "rest",
            "is_default": True,
            "max_concurrent_executions": 2,
            "translation": {},
            "deployment": {
                "kind": "rest_remote",
                "deploy_host": "dlg.example.org",
                "use_https": True,
            },
        }
        assert isinstance(created.deployment, RestRemoteDeployment)
        assert created.deployment.kind == "rest_remote"
        assert (created.deployment.deploy_port, created.deployment.verify_ssl) == (8001, True)
        assert created.project_module is None

    def test_not_a_superuser(self, api: ConformanceMock, client: BeampipeClient) -> None:
        forbidden = error_body(
            "forbidden", "superuser required", cls="authorization", retry="after_remediation"
        )
        api.post(f"{API}/deployment-profiles", status=403, json=forbidden)
        with pytest.raises(PermissionDeniedError) as info:
            client.create_deployment_profile(slurm_profile())
        assert info.value.code == "forbidden"

    def test_a_second_default_conflicts(self, api: ConformanceMock, client: BeampipeClient) -> None:
        conflict = error_body(
            "conflict",
            "project wallaby_hires already has a default deployment profile",
            cls="conflict",
            retry="after_remediation",
        )
        api.post(f"{API}/deployment-profiles", status=409, json=conflict)
        with pytest.raises(ConflictError):
            client.create_deployment_profile(slurm_profile(is_default=True))

    @pytest.mark.parametrize(
        "profile",
        [
            {"name": "x", "translation": {}, "deployment": {"kind": "rest_remote"}},
            None,
            RestRemoteDeployment(deploy_host="h"),
        ],
    )
    def test_only_a_deployment_profile_is_accepted(
        self, api: ConformanceMock, client: BeampipeClient, profile: Any
    ) -> None:
        with pytest.raises(InvalidArgumentError, match="profile must be a DeploymentProfile"):
            client.create_deployment_profile(profile)
        assert len(api.calls) == 0


class TestList:
    PROFILES = (
        reply(SLURM_STORED),
        reply(REST_STORED, uid=OTHER_ID, name="rest", module="other"),
        reply(REST_STORED, uid=THIRD_ID, name="global", module=None),
    )

    def test_every_profile_without_a_module(
        self, api: ConformanceMock, client: BeampipeClient
    ) -> None:
        api.get(f"{API}/deployment-profiles", json=list(self.PROFILES))
        profiles = client.list_deployment_profiles()
        assert_request(api.calls[0], "GET", "/api/v2/deployment-profiles", json_body=False)
        assert [p.name for p in profiles] == ["slurm-remote", "rest", "global"]
        assert [type(p.deployment) for p in profiles] == [
            SlurmRemoteDeployment,
            RestRemoteDeployment,
            RestRemoteDeployment,
        ]

    def test_the_module_filter_is_applied_on_the_client(
        self, api: ConformanceMock, client: BeampipeClient
    ) -> None:
        api.get(f"{API}/deployment-profiles", json=list(self.PROFILES))
        profiles = client.list_deployment_profiles(MODULE)
        # The handler takes no query parameters, so none is sent.
        assert_request(api.calls[0], "GET", "/api/v2/deployment-profiles", json_body=False)
        # Exact match, as the server's repository filter: module-less profiles are left out.
        assert [p.uuid for p in profiles] == [PROFILE_ID]
        assert client.list_deployment_profiles("nobody") == []

    @pytest.mark.off_spec("a deployment kind newer than the spec's union")
    def test_an_unknown_kind_decodes_to_the_unknown_variant(
        self, api: ConformanceMock, client: BeampipeClient
    ) -> None:
        newer = {"kind": "kubernetes", "namespace": "dlg", "replicas": 3}
        api.get(f"{API}/deployment-profiles", json=[reply(newer, name="k8s")])
        (profile,) = client.list_deployment_profiles()
        deployment = profile.deployment
        assert isinstance(deployment, UnknownDeploymentConfig)
        assert deployment.kind == deployment.tag == "kubernetes"
        assert deployment.raw == newer

    def test_empty_module_sends_nothing(self, api: ConformanceMock, client: BeampipeClient) -> None:
        with pytest.raises(InvalidArgumentError, match="project_module must not be empty"):
            client.list_deployment_profiles("")
        assert len(api.calls) == 0


class TestOneProfile:
    def test_get(self, api: ConformanceMock, client: BeampipeClient) -> None:
        api.get(f"{API}/deployment-profiles/{PROFILE_ID}", json=reply(SLURM_STORED, revision=3))
        profile = client.get_deployment_profile(PROFILE_ID.upper())
        assert_request(
            api.calls[0], "GET", f"/api/v2/deployment-profiles/{PROFILE_ID}", json_body=False
        )
        assert profile.revision == 3 and isinstance(profile.deployment, SlurmRemoteDeployment)

    def test_get_unknown(self, api: ConformanceMock, client: BeampipeClient) -> None:
        missing = error_body("not_found", "not found", cls="not_found", retry="after_remediation")
        api.get(f"{API}/deployment-profiles/{PROFILE_ID}", status=404, json=missing)
        with pytest.raises(NotFoundError):
            client.get_deployment_profile(PROFILE_ID)

    def test_update_sends_the_full_profile(
        self, api: ConformanceMock, client: BeampipeClient
    ) -> None:
        api.patch(f"{API}/deployment-profiles/{PROFILE_ID}", json=reply(SLURM_STORED, revision=2))
        updated = client.update_deployment_profile(
            PROFILE_ID, slurm_profile(description="two at a time", max_concurrent_executions=2)
        )
        call = api.calls[0]
        assert_request(call, "PATCH", f"/api/v2/deployment-profiles/{PROFILE_ID}", json_body=True)
        sent = body(call)
        assert set(sent) == {
            "name",
            "description",
            "project_module",
            "max_concurrent_executions",
            "translation",
            "deployment",
        }
        assert sent["description"] == "two at a time" and sent["max_concurrent_executions"] == 2
        assert sent["deployment"]["kind"] == "slurm_remote"
        assert sent["deployment"]["ssh_credential"] == "setonix"
        assert sent["translation"] == TRANSLATION
        assert updated.revision == 2

    def test_a_profile_read_back_from_the_server_is_refused(
        self, api: ConformanceMock, client: BeampipeClient
    ) -> None:
        api.get(f"{API}/deployment-profiles/{PROFILE_ID}", json=reply(SLURM_STORED))
        stored = client.get_deployment_profile(PROFILE_ID)
        again = DeploymentProfile(
            name=stored.name, translation=stored.translation, deployment=stored.deployment
        )
        with pytest.raises(InvalidArgumentError) as info:
            client.update_deployment_profile(PROFILE_ID, again)
        assert "profile.deployment.ssh_credential is '[REDACTED]'" in str(info.value)
        with pytest.raises(InvalidArgumentError, match="REDACTED"):
            client.create_deployment_profile(again)
        assert len(api.calls) == 1  # only the GET

    def test_delete(self, api: ConformanceMock, client: BeampipeClient) -> None:
        api.delete(f"{API}/deployment-profiles/{PROFILE_ID}", status=204)
        client.delete_deployment_profile(PROFILE_ID)
        assert_request(
            api.calls[0], "DELETE", f"/api/v2/deployment-profiles/{PROFILE_ID}", json_body=False
        )

    def test_delete_unknown(self, api: ConformanceMock, client: BeampipeClient) -> None:
        missing = error_body("not_found", "not found", cls="not_found", retry="after_remediation")
        api.delete(f"{API}/deployment-profiles/{PROFILE_ID}", status=404, json=missing)
        with pytest.raises(NotFoundError):
            client.delete_deployment_profile(PROFILE_ID)

    @pytest.mark.parametrize("bad", ["slurm-remote", "", 7])
    def test_bad_ids_send_nothing(
        self, api: ConformanceMock, client: BeampipeClient, bad: Any
    ) -> None:
        for call in (client.get_deployment_profile, client.delete_deployment_profile):
            with pytest.raises(InvalidArgumentError, match="profile_id must be a UUID"):
                call(bad)
        with pytest.raises(InvalidArgumentError, match="profile_id must be a UUID"):
            client.update_deployment_profile(bad, slurm_profile())
        with pytest.raises(InvalidArgumentError, match="profile must be a DeploymentProfile"):
            client.update_deployment_profile(PROFILE_ID, {"name": "x"})  # type: ignore[arg-type]
        assert len(api.calls) == 0
