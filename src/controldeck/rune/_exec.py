"""Rune exec: run a command in an instance over `ExecService/StreamExec` (gRPC only).

`exec()` runs a command to its end and returns an `ExecResult`; `exec_session()` opens an
interactive `ExecSession`. Both need `RuneClient(..., transport="grpc")`: runed serves exec
only as a bidirectional gRPC stream, which HTTP/1.1 cannot carry (reference §6).

Choices (from the reference's reading of runed's exec service):

- `target` "api" or "service/api" sends `serviceName` (runed picks the first RUNNING
  instance of the service, else NotFound); "instance/<id>" sends `instanceId` (NotFound, or
  FailedPrecondition when it is not running).
- runed ends a session ~0.5 s after the client half-closes (stdin EOF), so `exec()` without
  `stdin` never half-closes: it waits for the exit message. With `stdin` it sends the
  chunks, then EOF.
- `timeout` is the gRPC deadline of the whole command; the client's `deadline=` is not
  applied to exec (a long command would be cut by a budget meant for one call), only a
  per-call `deadline=`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypedDict, Unpack

from controldeck._core._transport import check_deadline
from controldeck.errors import InvalidArgumentError
from controldeck.rune._base import RuneBase, namespace_of

if TYPE_CHECKING:
    from controldeck.rune._grpc import GrpcWire
    from controldeck.rune._grpc_streams import ExecResult, ExecSession

__all__ = ["ExecAPI", "ExecOptions"]


class ExecOptions(TypedDict, total=False):
    """Per-call options of `exec()` and `exec_session()` (their own `timeout=` bounds the
    command).

    Attributes:
        deadline: Seconds the whole call may take; with `timeout`, the shorter one wins.
        extra_headers: Extra gRPC metadata (keys are lower-cased).
    """

    deadline: float | None
    extra_headers: Mapping[str, str]


def _budget(timeout: Any, options: Mapping[str, Any]) -> float | None:
    """The call's deadline in seconds: `timeout` and `deadline=`, the shorter one."""
    unknown = set(options) - set(ExecOptions.__annotations__)
    if unknown:
        raise InvalidArgumentError(
            f"unexpected keyword arguments: {', '.join(sorted(unknown))} "
            "(exec takes timeout=, deadline= and extra_headers=)"
        )
    seconds = check_deadline(timeout, "timeout")
    deadline = check_deadline(options.get("deadline"))
    if deadline is None:
        return seconds
    return deadline if seconds is None else min(seconds, deadline)


class ExecAPI(RuneBase):
    """`exec()` and `exec_session()` (mixed into `RuneClient`)."""

    def _exec_wire(self, what: str) -> GrpcWire:
        if self._grpc is None:
            raise InvalidArgumentError(
                f"{what} needs RuneClient(..., transport='grpc'): runed serves exec only over "
                "its bidirectional gRPC stream (ExecService/StreamExec), which the "
                f"{self.transport!r} HTTP transport cannot carry "
                "(pip install 'controldeck[grpc]')"
            )
        return self._grpc

    def exec(
        self,
        target: str,
        command: Sequence[str],
        *,
        namespace: str = "default",
        env: Mapping[str, str] | None = None,
        working_dir: str | None = None,
        tty: bool = False,
        stdin: bytes | str | None = None,
        timeout: float | None = 60.0,
        **options: Unpack[ExecOptions],
    ) -> ExecResult:
        """Run a command in an instance and wait for it to exit (gRPC transport).

        Args:
            target: A service (`"api"` or `"service/api"`: runed picks its first running
                instance) or one instance (`"instance/<id>"`).
            command: The program and its arguments, run without a shell (a plain string is
                refused: pass `["sh", "-c", "..."]` for a shell).
            namespace: The namespace.
            env: Extra environment variables.
            working_dir: The working directory (default: the instance's).
            tty: Run it in a terminal (stderr then arrives merged into stdout).
            stdin: Bytes (or a str, sent as UTF-8) written to its stdin, then EOF. None
                sends no stdin and no EOF.
            timeout: Seconds the whole command may take (the gRPC deadline; it is cancelled
                after that); None for no limit.

        Returns:
            The `ExecResult`: stdout, stderr, exit code; a non-zero exit is not an error
            (see `.ok`).

        Raises:
            InvalidArgumentError: A bad argument, or not the gRPC transport; nothing is sent.
            APITimeoutError: The command did not finish within `timeout`.
            NotFoundError: No such instance, or no running instance of the service.
            PreconditionFailedError: The instance is not running.
            AuthenticationError, PermissionDeniedError: The token is refused or lacks
                `exec:exec`.
            StreamError: runed sent a failed status, or ended without an exit status.

        Example:
            >>> result = rune.exec("api", ["sh", "-c", "echo $GREETING"], env={"GREETING": "hi"})
            >>> result.exit_code, result.text()
            (0, 'hi\\n')
        """
        from controldeck.rune._grpc_streams import exec_init, run_exec, stdin_chunks

        wire = self._exec_wire("exec()")
        init = exec_init(
            target,
            command,
            namespace=namespace_of(namespace),
            env=env,
            working_dir=working_dir,
            tty=tty,
        )
        chunks = None if stdin is None else stdin_chunks(stdin)
        seconds = _budget(timeout, options)
        metadata = wire.metadata(options.get("extra_headers"))
        first = wire.timeout[1] if seconds is None else min(seconds, wire.timeout[1])
        return run_exec(
            wire, init, metadata=metadata, timeout=seconds, first_reply=first, stdin=chunks
        )

    def exec_session(
        self,
        target: str,
        command: Sequence[str],
        *,
        namespace: str = "default",
        env: Mapping[str, str] | None = None,
        working_dir: str | None = None,
        tty: bool = False,
        terminal_size: tuple[int, int] | None = None,
        timeout: float | None = None,
        **options: Unpack[ExecOptions],
    ) -> ExecSession:
        """Start an interactive command in an instance (gRPC transport).

        Returns once runed has answered (its `Connected to instance <id>` status), so a
        missing target or a refused token raises here, not on the first read; the wait
        for that answer is bounded by the client's read timeout.

        Args:
            target: `"api"`, `"service/api"` or `"instance/<id>"` (see `exec()`).
            command: The program and its arguments (see `exec()`).
            namespace: The namespace.
            env: Extra environment variables.
            working_dir: The working directory.
            tty: Run it in a terminal.
            terminal_size: The terminal's (width, height) at start (`os.get_terminal_size()`
                gives one).
            timeout: Seconds the whole session may last (then it is cancelled); None for
                no limit.

        Returns:
            The open `ExecSession`; use it in a `with` block.

        Raises:
            InvalidArgumentError: A bad argument, or not the gRPC transport; nothing is sent.
            APITimeoutError: runed did not answer in time.
            APIStatusError: runed refused (`NotFoundError`, `PreconditionFailedError`,
                `AuthenticationError`, `PermissionDeniedError`).

        Example:
            >>> with rune.exec_session("api", ["cat"]) as cat:
            ...     cat.write("hello\\n")
            ...     cat.close_stdin()
            ...     print(cat.wait().stdout)
            b'hello\\n'
        """
        from controldeck.rune._grpc_streams import exec_init, open_exec

        wire = self._exec_wire("exec_session()")
        init = exec_init(
            target,
            command,
            namespace=namespace_of(namespace),
            env=env,
            working_dir=working_dir,
            tty=tty,
            terminal_size=terminal_size,
        )
        seconds = _budget(timeout, options)
        metadata = wire.metadata(options.get("extra_headers"))
        first = wire.timeout[1] if seconds is None else min(seconds, wire.timeout[1])
        return open_exec(wire, init, metadata=metadata, timeout=seconds, first_reply=first)
