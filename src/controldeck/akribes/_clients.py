"""Registered clients (with their heartbeat) and contract locks (`project(pid).registered_clients`).

A client that registers its interests (the scripts it runs and the inputs it sends) gets
contract locks: the server warns before publishing a version that would break it. While
registered it must say it is alive: `init()` starts a daemon thread that POSTs
`/heartbeat {client_id}` every 30 s, backing off (full jitter, 1 s doubling to 30 s) while
that fails (R/sub/clients.rs:14-32, 98-137). One heartbeat runs per `AkribesClient` (its
`client_id`); `destroy()` or `client.close()` stops it.
"""

from __future__ import annotations

import random
import threading
import weakref
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Unpack

from controldeck._core._lazy import LazyModule
from controldeck._core._logging import logger
from controldeck._core._options import CallOptions
from controldeck.akribes._base import ProjectResource, int_id, segment
from controldeck.errors import InvalidArgumentError

if TYPE_CHECKING:
    from controldeck._core._pagination import Page
    from controldeck._generated import akribes as models
    from controldeck._generated.akribes import (
        ClientInfo,
        ClientInterest,
        ContractLockInfo,
        RegisterClientResponse,
    )
    from controldeck.akribes._client import AkribesClient
else:
    models = LazyModule("controldeck._generated.akribes")

__all__ = [
    "HEARTBEAT_BACKOFF_BASE",
    "HEARTBEAT_BACKOFF_CAP",
    "HEARTBEAT_INTERVAL",
    "Heartbeat",
    "RegisteredClientsClient",
]

HEARTBEAT_INTERVAL = 30.0
HEARTBEAT_BACKOFF_BASE = 1.0
HEARTBEAT_BACKOFF_CAP = 30.0
# How long stopping waits for a beat in flight: close() should not hang on a slow server.
_JOIN_TIMEOUT = 5.0

# The running heartbeat of each client, and the unregister of its close hook.
_running: weakref.WeakKeyDictionary[AkribesClient, tuple[Heartbeat, Callable[[], None]]] = (
    weakref.WeakKeyDictionary()
)
_running_lock = threading.Lock()


class Heartbeat:
    """Calls `beat` every `interval` seconds on a daemon thread until stopped.

    After a failed beat the next one comes after a random wait between 0 and
    `min(cap, base * 2**(failures - 1))` seconds (full jitter); a success restores the
    interval. Waits are on a `threading.Event`, so `stop()` takes effect at once.

    Args:
        beat: One heartbeat; any exception counts as a failure (logged, never raised).
        interval: Seconds between beats while they succeed.
        base: The first backoff bound after a failure.
        cap: The largest backoff bound.
        jitter: Picks the wait in `[low, high]` (injected by tests).
        name: The thread's name.

    Example:
        >>> heartbeat = Heartbeat(lambda: print("alive"), interval=30)
        >>> heartbeat.start()
        >>> heartbeat.stop()
    """

    def __init__(
        self,
        beat: Callable[[], object],
        *,
        interval: float = HEARTBEAT_INTERVAL,
        base: float = HEARTBEAT_BACKOFF_BASE,
        cap: float = HEARTBEAT_BACKOFF_CAP,
        jitter: Callable[[float, float], float] = random.uniform,
        name: str = "akribes-heartbeat",
    ) -> None:
        self.interval = interval
        self.base = base
        self.cap = cap
        self._beat = beat
        self._jitter = jitter
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self.run, name=name, daemon=True)

    @property
    def running(self) -> bool:
        """Whether the thread is alive.

        Example:
            >>> heartbeat.running
            True
        """
        return self._thread.is_alive()

    def start(self) -> None:
        """Start the thread (the first beat comes after one interval).

        Example:
            >>> heartbeat.start()
        """
        self._thread.start()

    def stop(self) -> None:
        """Stop beating; waits up to 5 s for a beat in flight. Safe twice.

        Example:
            >>> heartbeat.stop()
        """
        self._stopped.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(_JOIN_TIMEOUT)

    def run(self) -> None:
        """The loop the thread runs; returns once stopped.

        Example:
            >>> Heartbeat(beat).run()  # in the calling thread, until stop() from another
        """
        failures = 0
        delay = self.interval
        while not self._stopped.wait(delay):
            try:
                self._beat()
            except Exception as exc:  # the thread must outlive any failure of one beat
                failures += 1
                delay = self._jitter(0.0, min(self.cap, self.base * 2 ** (failures - 1)))
                logger.warning("akribes heartbeat failed (%d in a row): %s", failures, exc)
            else:
                failures = 0
                delay = self.interval


def _interest(index: int, value: Any) -> ClientInterest:
    if isinstance(value, models.ClientInterest):
        return value
    if not isinstance(value, Mapping):
        raise InvalidArgumentError(
            f"interests[{index}] must be a ClientInterest or a dict, got {type(value).__name__}"
        )
    try:
        return models.ClientInterest(**value)
    except (TypeError, ValueError) as exc:
        raise InvalidArgumentError(f"interests[{index}]: {exc}") from None


def _stop_heartbeat(client: AkribesClient) -> None:
    with _running_lock:
        entry = _running.pop(client, None)
    if entry is not None:
        heartbeat, forget = entry
        forget()
        heartbeat.stop()


class RegisteredClientsClient(ProjectResource):
    """This client's registration, the project's registered clients, and contract locks.

    Example:
        >>> clients = client.project(7).registered_clients
        >>> clients.init([{"script_name": "triage", "inputs": {"ticket": "str"}}])
        >>> ...
        >>> clients.destroy()
    """

    def init(
        self,
        interests: Sequence[ClientInterest | Mapping[str, Any]],
        **options: Unpack[CallOptions],
    ) -> RegisterClientResponse:
        """Register this client (`client.client_id`, `client.name`) and start its heartbeat.

        The heartbeat thread runs until `destroy()` or `client.close()`; calling `init`
        again replaces it.

        Args:
            interests: The scripts this client runs: `ClientInterest` models or dicts with
                `script_name`, `inputs` (input types by name) and optionally `channel`,
                `lifetime`, `strict`.

        Returns:
            The interests as the server bound them (version and input schema).

        Raises:
            InvalidArgumentError: A malformed interest.

        Example:
            >>> reply = clients.init([ClientInterest(script_name="triage", inputs={"t": "str"})])
            >>> reply.interests[0].bound_version_id
            5
        """
        if isinstance(interests, str | bytes | Mapping) or not isinstance(interests, Sequence):
            raise InvalidArgumentError(f"interests must be a list, got {type(interests).__name__}")
        client = self._client
        body = models.RegisterClientRequest(
            id=client.client_id,
            name=client.name,
            interests=[_interest(i, v) for i, v in enumerate(interests)],
        )
        reply = client._post(
            self._path("clients"), models.RegisterClientResponse, json=body, **options
        )
        self._start_heartbeat(client)
        return reply

    @staticmethod
    def _start_heartbeat(client: AkribesClient) -> None:
        ping = models.HeartbeatRequest(client_id=client.client_id)

        def beat() -> None:
            # The backoff above is the retry policy; the transport must not add its own.
            client._transport.request("POST", "/heartbeat", json=ping, reply="none", max_retries=0)

        _stop_heartbeat(client)
        heartbeat = Heartbeat(beat, interval=HEARTBEAT_INTERVAL)
        forget = client._on_close(lambda: _stop_heartbeat(client))
        with _running_lock:
            _running[client] = (heartbeat, forget)
        heartbeat.start()

    def destroy(self) -> None:
        """Stop this client's heartbeat (the registration stays until the server expires it).

        Example:
            >>> client.project(7).registered_clients.destroy()
        """
        _stop_heartbeat(self._client)

    def list(self, **options: Unpack[CallOptions]) -> Page[ClientInfo]:
        """The project's registered clients, paged lazily (empty on 404).

        Example:
            >>> [(c.name, c.last_seen) for c in clients.list()]
        """
        return self._list(self._path("clients"), models.ClientInfo, **options)

    def delete(self, client_id: str, **options: Unpack[CallOptions]) -> None:
        """Unregister a client (any project's: the route is global). A 404 is ignored.

        Example:
            >>> clients.delete("3f0c...")
        """
        self._client._delete_found(f"/clients/{segment('client_id', client_id)}", **options)

    def _locks(self, name: str, *rest: str) -> str:
        return self._path("scripts", segment("name", name), "locks", *rest)

    def list_locks(self, name: str, **options: Unpack[CallOptions]) -> Page[ContractLockInfo]:
        """The contract locks on a script, paged lazily (empty on 404).

        Example:
            >>> [(l.client_name, l.drifted) for l in clients.list_locks("triage")]
        """
        return self._list(self._locks(name), models.ContractLockInfo, **options)

    def revoke_lock(self, name: str, lock_id: int, **options: Unpack[CallOptions]) -> None:
        """Revoke a contract lock. A 404 is ignored, as upstream.

        Example:
            >>> clients.revoke_lock("triage", 12)
        """
        path = self._locks(name, str(int_id("lock_id", lock_id)))
        self._client._delete_found(path, **options)

    def rebind_lock(
        self,
        name: str,
        lock_id: int,
        version_id: int | None = None,
        **options: Unpack[CallOptions],
    ) -> ContractLockInfo:
        """Bind a lock to a version, or unbind it (`version_id=None` sends `null`).

        Example:
            >>> clients.rebind_lock("triage", 12, 5).bound_version_id
            5
        """
        path = self._locks(name, str(int_id("lock_id", lock_id)), "rebind")
        body = models.RebindLockRequest(
            version_id=None if version_id is None else int_id("version_id", version_id)
        )
        return self._client._patch(path, models.ContractLockInfo, json=body, **options)
