"""A workflow's life on Akribes, against the local FakeAkribes: no network needed.

1. Create a project and a script, save its draft and publish it to `production`.
2. Run it with streaming events: the stream is attached before the run is posted, so
   every engine event of this execution arrives, and it ends at `WorkflowEnd`.
3. Run it again and wait for the output (the fake moves pending -> running -> completed
   one step per poll).
4. Mint a read-only token scoped to the project, use it, and revoke it.

Run: `make demo`, or `.venv/bin/python examples/akribes_run.py`.
"""

from __future__ import annotations

from controldeck.akribes import AkribesClient, TokenRole, TokenScopes
from controldeck.testing.akribes import FakeAkribes

SOURCE = """\
input ticket: string
workflow main {
  task triage { prompt "Classify the ticket {ticket}" }
}
"""


def main() -> None:
    with FakeAkribes(seed=False) as fake:
        fake.results["triage"] = {"priority": "high"}
        with AkribesClient(fake.url, token=fake.service_token, name="example") as client:
            project = client.projects.create("support")
            scope = client.project(project.id)
            scope.scripts.create("triage", SOURCE)
            published = scope.versions.publish("triage", ["production"], label="v1")
            print(f"published version {published.version.id} of triage to production")

            with scope.executions.run_stream("triage", inputs={"ticket": "T-1"}) as events:
                for event in events:
                    print(f"  event {event.type}")

            run = scope.executions.run("triage", inputs={"ticket": "T-2"})
            output = client.executions.await_execution(run.execution_id, poll_interval=0.01)
            print(f"{run.execution_id}: {output.status}, result {output.result}")

            minted = client.tokens.mint(
                scopes=TokenScopes(projects=[project.id], role=TokenRole.VIEWER),
                expires_in=3600,
                label="dashboard",
            )
            with AkribesClient(fake.url, token=minted.token) as viewer:
                names = [s.name for s in viewer.project(project.id).scripts.list()]
                print(f"the viewer token sees scripts {names}")
            client.tokens.revoke(minted.token_id)
            print(f"revoked {minted.token_id}")


if __name__ == "__main__":
    main()
