"""Sample data for `FakeRunbeam`, after the fixtures of the Runbeam SDK tests (reference §6)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from controldeck.testing.runbeam import FakeRunbeam

SEED_TEAM = "team-456"
SEED_MESH_ID = "01HXYZ123456789ABCDEF"
JOLT_INSTRUCTIONS = '[{"operation":"shift","spec":{"user":{"name":"name"}}}]'


def iso(timestamp: float) -> str:
    """RFC 3339 UTC with a `Z`, whole seconds: `2025-01-07T01:00:00Z`."""
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def seed(fake: FakeRunbeam) -> None:
    """Sample data after the fixtures of the Runbeam SDK tests (reference §6)."""
    common = {"team_id": SEED_TEAM, "created_at": "2024-01-01T00:00:00Z",
              "updated_at": "2024-01-01T00:00:00Z"}  # fmt: skip
    gateway = {
        "enabled": True, "pipelines_path": "/etc/harmony/pipelines",
        "transforms_path": "/etc/harmony/transforms", "jwks_cache_duration_hours": 24,
        "management_enabled": True, "management_base_path": "/manage",
        "management_network_id": "network-789", "dns": ["8.8.8.8", "1.1.1.1"],
        "settings": {"timeout": 30},
    }  # fmt: skip
    for gid, code, name in [("gateway-123", "my-gateway", "My Gateway"),
                            ("gateway-456", "edge-gateway", "Edge Gateway"),
                            ("gateway-bulk", "bulk-gateway", "Bulk Gateway")]:  # fmt: skip
        item = {"type": "gateway", "code": code, "name": name, **gateway}
        fake._put(fake.gateways, item, id=gid, **common)
    for sid, code, name, description in [
        ("service-001", "api-service", "API Service", "Main API service"),
        ("service-002", "fhir-service", "FHIR Service", "FHIR R4 patient data"),
    ]:
        service = {"type": "service", "code": code, "name": name, "gateway_id": "gateway-123",
                   "description": description}  # fmt: skip
        fake._put(fake.services, service, id=sid, **common)
    for eid, code, name, methods in [
        ("endpoint-001", "users-list", "List Users", ["GET"]),
        ("endpoint-002", "users-create", "Create User", ["POST"]),
    ]:
        endpoint = {
            "type": "endpoint", "code": code, "name": name, "gateway_id": "gateway-123",
            "service_id": "service-001", "peer_ref": None, "connection": None,
            "authentication": "jwt-auth", "path": "/api/users", "methods": methods,
            "description": None, "options": None,
        }  # fmt: skip
        fake._put(fake.endpoints, endpoint, id=eid, **common)
    backend = {
        "type": "backend", "code": "api-backend", "name": "API Backend",
        "gateway_id": "gateway-123", "service_id": "service-001", "target_ref": None,
        "connection": {"host": "api.example.com", "protocol": "https", "base_path": "/",
                       "port": 443},
        "authentication": None, "url": "https://api.example.com", "timeout_seconds": 30,
        "max_retries": 3, "options": None,
    }  # fmt: skip
    fake._put(fake.backends, backend, id="backend-001", **common)
    pipeline = {
        "type": "pipeline", "code": "main-pipeline", "name": "Main Pipeline",
        "description": "Primary request pipeline", "gateway_id": "gateway-123",
        "networks": ["network-1", "network-2"], "endpoints": {"list": ["endpoint-1", "endpoint-2"]},
        "backends": {"primary": "backend-1"}, "middleware": {"auth": {"type": "jwt"}},
    }  # fmt: skip
    fake._put(fake.pipelines, pipeline, id="pipeline-123", **common)
    transform = {"type": "transform", "code": "user-transform", "name": "User Transform",
                 "gateway_id": "gateway-123",
                 "options": {"instructions": JOLT_INSTRUCTIONS}}  # fmt: skip
    fake._put(fake.transforms, transform, id="transform-123", **common)
    fake.meshes[SEED_MESH_ID] = {
        "id": SEED_MESH_ID, "name": "mesh-healthcare", "type": "http", "provider": "runbeam",
        "enabled": True, "team_id": SEED_TEAM, "egress_gateway_ids": ["gateway-123"],
        "ingress_urls": ["https://partner.example.com/"],
    }  # fmt: skip
    ingress = {
        "type": "ingress", "id": "01JGXYZ123ABC", "name": "patient_api", "team_id": SEED_TEAM,
        "enabled": True, "gateway_id": "gateway-123", "pipeline_id": "pipeline-123",
        "mesh_id": SEED_MESH_ID, "urls": ["https://partner.example.com/fhir/r4"],
        "protocol": "http", "mode": "mesh", "backend_id": None, "service_id": "service-002",
        "endpoint_id": "endpoint-001", "description": "Patient API ingress",
        "provider": "runbeam", "auth_type": "jwt",
    }  # fmt: skip
    egress = {**ingress, "type": "egress", "id": "01JGXYZ", "name": "lab_results",
              "team_id": "team-789", "urls": [], "mode": "default", "backend_id": "backend-001",
              "endpoint_id": None, "description": "Partner lab egress"}  # fmt: skip
    for ref in ["runbeam.acme.ingress.name.patient_api", "runbeam.id.01JGXYZ123ABC",
                "runbeam.acme.id.01JGXYZ123ABC"]:  # fmt: skip
        fake.resolvable[ref] = ingress
    fake.resolvable["runbeam.partner_lab.egress.id.01JGXYZ"] = egress

    start = datetime(2025, 1, 7, 1, 0, tzinfo=UTC).timestamp()
    for i in range(1, 41):
        toml = f'[proxy]\nid = "bulk-gateway"\nrevision = {i}\n'
        metadata, created_at = {"revision": i}, iso(start + 60 * i)
        fake.add_change("gateway-bulk", "gateway", toml, metadata=metadata, created_at=created_at)
    for i, (kind, toml) in enumerate([
        ("gateway", '[proxy]\nid = "my-gateway"\nlog_level = "info"\n\n[network.default]\n'
                    'enable_wireguard = false\n\n[network.default.tcp_config]\n'
                    'bind_address = "0.0.0.0"\nbind_port = 8080\n'),
        ("pipeline", '[pipelines.main-pipeline]\ndescription = "Primary request pipeline"\n'
                     'networks = ["default"]\nendpoints = ["users-list"]\n'
                     'backends = ["api-backend"]\n'),
        ("transform", '[transform.user-transform]\nname = "user-transform"\n'
                      f"instructions = '''\n{JOLT_INSTRUCTIONS}\n'''\n"),
    ]):  # fmt: skip
        fake.add_change(
            "gateway-123",
            kind,
            toml,
            metadata={"gateway_name": "my-gateway"},
            pipeline_id="pipeline-123" if kind == "pipeline" else None,
            created_at=iso(start + 3600 + 60 * i),
        )
