"""Logs and exec over runed's gRPC port, against the local FakeRune: no network needed.

`RuneClient(transport="grpc")` (the `grpc` extra: `pip install 'controldeck[grpc]'`) talks to
runed's primary gRPC listener (:7863). The unary methods are the same as over Connect; what
only gRPC can carry is shown here:

1. `logs()`: LogService/StreamLogs, a bidirectional stream — read the last lines, then follow
   and narrow the running stream with `update_log_params(filter=...)`.
2. `exec()`: ExecService/StreamExec for a non-interactive command — stdout, stderr and the
   exit code in one `ExecResult`; with `stdin=` the input is sent, then closed.

Run: `make demo`, or `.venv/bin/python examples/rune_grpc.py`.
"""

from __future__ import annotations

from controldeck.rune import RuneClient
from controldeck.testing.rune import FakeRune


def main() -> None:
    with FakeRune(grpc=True, start_polls=0) as fake:
        fake.add_service("api", namespace="shop", scale=2)
        fake.add_log_lines(
            "api",
            ["GET /health 200", "GET /cart 200", "POST /pay failed: card declined"],
            namespace="shop",
        )
        with RuneClient(
            token=fake.seed_token, transport="grpc", grpc_target=fake.grpc_target
        ) as rune:
            print(f"-- {rune!r}")
            print("services:", [s.name for s in rune.list_services("shop")])

            with rune.logs("api", namespace="shop", tail=2) as lines:
                for line in lines:
                    print(f"log [{line.log_level}] {line.content}")

            with rune.logs("api", namespace="shop", follow=True, tail=1) as lines:
                for line in lines:
                    print(f"follow: {line.content}")
                    break  # the tail has arrived: narrow the stream to errors
                lines.update_log_params(filter="failed")  # same stream, new parameters
                fake.add_log_lines("api", ["POST /pay failed: timeout"], namespace="shop")
                for line in lines:
                    print(f"follow (filter=failed): {line.content}")
                    if line.content.endswith("timeout"):
                        break  # the new line arrived on the running stream

            result = rune.exec("api", ["echo", "hello from", "api"], namespace="shop")
            print(f"exec echo -> exit {result.exit_code}: {result.stdout.decode().strip()}")
            piped = rune.exec("api", ["cat"], namespace="shop", stdin=b"ping\n")
            print(f"exec cat  -> exit {piped.exit_code}: {piped.stdout.decode().strip()}")
            failed = rune.exec("api", ["sh", "-c", "exit 3"], namespace="shop")
            print(f"exec sh -c 'exit 3' -> exit {failed.exit_code}, ok={failed.ok}")


if __name__ == "__main__":
    main()
