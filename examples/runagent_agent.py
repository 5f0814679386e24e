"""Call a RunAgent agent, against the local FakeRunAgent: no network, no `runagent` install.

1. Register the agent in a throwaway local registry, as `runagent serve` does, and let the
   client discover its address from it (`local=True`, no host or port).
2. `run()` an entrypoint, then `run_stream()` a `_stream` one over the WebSocket.
3. The guardrail: `run()` on a streaming tag fails before anything is sent.
4. An agent that raises: `RunAgentExecutionError` with the server's code and message.
5. The local server's invocation history.
6. The agent's server stops, its registry row still says `serving`: `AgentNotRunningError`.

Run: `make demo`, or `.venv/bin/python examples/runagent_agent.py`.
"""

from __future__ import annotations

import os
import tempfile

from controldeck.runagent import (
    AgentNotRunningError,
    EntrypointError,
    RunAgentClient,
    RunAgentExecutionError,
)
from controldeck.testing.runagent import FakeRunAgent


def main() -> None:
    with tempfile.TemporaryDirectory() as cache_dir:
        os.environ["RUNAGENT_CACHE_DIR"] = cache_dir  # where the CLI keeps its registry
        with FakeRunAgent(agent_name="Demo Agent") as fake:
            fake.register(cache_dir)
            agent_id = fake.agent_id

            with RunAgentClient(agent_id, "echo", local=True) as agent:
                print(f"discovered {agent.base_url} from the registry")
                print("run:", agent.run(message="hello", times=2))
                print("tags:", [e.tag for e in agent.validate().entrypoints])

            with RunAgentClient(agent_id, "echo_stream", local=True) as streamer:
                with streamer.run_stream("chunk", n=3) as chunks:
                    print("stream:", list(chunks))
                try:
                    streamer.run("oops")
                except EntrypointError as exc:
                    print(f"guardrail: {exc.code}: {exc.suggestion}")

            with RunAgentClient(agent_id, "boom", local=True) as failing:
                try:
                    failing.run()
                except RunAgentExecutionError as exc:
                    print(f"agent failed: {exc.code}: {exc.message}")

            with RunAgentClient(agent_id, "echo", local=True) as agent:
                history = agent.list_invocations(limit=3)
                for item in history.invocations:
                    print(f"invocation {item.entrypoint_tag}: {item.status}")
                stats = agent.invocation_stats().stats
                print(f"success rate: {stats.success_rate}%")

        # The server is gone; the registry row still says "serving".
        with RunAgentClient(agent_id, "echo", local=True, max_retries=0) as stale:
            try:
                stale.run("anyone there?")
            except AgentNotRunningError as exc:
                print(f"stale registry: {exc.message}")
        del os.environ["RUNAGENT_CACHE_DIR"]


if __name__ == "__main__":
    main()
