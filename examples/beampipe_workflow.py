"""The Beampipe seed workflow, end to end, against the local FakeBeampipe: no network needed.

1. Log in (the client keeps the access/refresh pair and renews it by itself).
2. Upload a project config (YAML) and read back the active version.
3. Register a source, trigger discovery and wait until it is ready for execution.
4. Create a Slurm deployment profile.
5. Create an execution (retry-safe: an Idempotency-Key is sent and reused on retries),
   start it, and wait for a terminal status (the fake moves it pending -> running ->
   completed, one step per poll).
6. Read its summary and ledger snapshot.

Run: `make demo`, or `.venv/bin/python examples/beampipe_workflow.py`.
"""

from __future__ import annotations

from controldeck.beampipe import (
    BeampipeClient,
    DaliugeAlgo,
    DaliugeTranslationConfig,
    DeploymentProfile,
    SlurmRemoteDeployment,
)
from controldeck.testing.beampipe import FakeBeampipe

PROJECT = "minimal_survey"
SOURCE = "HIPASSJ1318-21"

CONFIG = f"""\
apiVersion: beampipe.dev/v2
kind: ProjectConfig
metadata:
  id: {PROJECT}
  description: Generic single-archive survey
adapters:
  required:
    - casda
discovery:
  queries:
    - name: visibility
      adapter: casda
      template: |
        SELECT o.* FROM ivoa.obscore o WHERE o.filename LIKE '{{source_identifier}}%'
manifest:
  group_by:
    - source_identifier
"""


def main() -> None:
    with (
        FakeBeampipe() as fake,
        BeampipeClient(fake.url, username="admin", password="admin-password") as client,
    ):
        me = client.current_user()  # logs in on first use
        print(f"logged in as {me.username} (superuser: {me.is_superuser})")

        report = client.upload_project_config(CONFIG)
        active = client.get_project_config(PROJECT)
        print(f"config {report.project_id} v{active.version} valid={report.valid}")

        source = client.create_source(PROJECT, SOURCE)  # enabled=True is always sent
        client.discover_sources(PROJECT, SOURCE)
        status = client.wait_for_source_ready(source.uuid, timeout=60, poll_interval=0.05)
        print(f"source {SOURCE}: ready={status.ready_for_execution} blockers={status.blockers}")

        profile = client.create_deployment_profile(
            DeploymentProfile(
                name="slurm-remote",
                project_module=PROJECT,
                translation=DaliugeTranslationConfig(
                    algo=DaliugeAlgo.METIS, num_par=1, num_islands=1
                ),
                deployment=SlurmRemoteDeployment(
                    login_node="setonix.pawsey.org.au",
                    account="pawsey0411",
                    ssh_credential="setonix",
                    home_dir="/home/beampipe",
                    dlg_root="/scratch/pawsey0411/dlg",
                    log_dir="/scratch/pawsey0411/logs",
                ),
            )
        )
        print(f"profile {profile.name} ({profile.deployment.kind}) revision {profile.revision}")

        execution = client.create_execution(
            PROJECT, [SOURCE], "casda", deployment_profile_name=profile.name
        )
        started = client.execute(execution.uuid)
        print(f"execution {execution.uuid}: {execution.status}, job {started.job_id}")

        final = client.wait_for_execution(execution.uuid, timeout=60, poll_interval=0.05)
        summary = client.get_execution_summary(execution.uuid)
        ledger = client.get_ledger_snapshot(execution.uuid, include_manifest=False)
        events = [e.event_type for e in ledger.provenance_summary.recent_events]
        print(f"finished {final.status} ({summary.terminal_outcome}); scheduler job "
              f"{summary.scheduler_job_id}; recent events {events}")  # fmt: skip


if __name__ == "__main__":
    main()
