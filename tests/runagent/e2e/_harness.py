"""The real RunAgent server for the e2e tests: its isolated venv, and one served agent.

Two pieces, both used by `conftest.py`:

- `ensure_venv()` builds (once per machine, cached) a venv holding the pinned `runagent`
  package, apart from our own `.venv`: its dependencies (fastapi, uvicorn, sqlalchemy...)
  never mix with ours. It is built in a temp directory next to its final place and renamed
  into place only once `runagent --help` works, under a file lock, so a half-built venv is
  never reused and two pytest processes never build at once.
- `serve_agent()` registers the agent in `agent/` under a fresh HOME + RUNAGENT_CACHE_DIR,
  starts `runagent serve` on a free loopback port, waits for `/api/v1/health`, and at the
  end stops it by its PID and checks that nothing it started is left.

The CLI runs as `<venv>/bin/python -m runagent.cli.main` (the console script's module),
never as `<venv>/bin/runagent`: pip writes the build directory into console-script
shebangs, and the venv is renamed after the build. The interpreter itself is relocatable.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import pytest
import requests

RUNAGENT_VERSION = "0.1.49"
VENV_ENV = "CONTROLDECK_RUNAGENT_VENV"
AGENT_SOURCE = Path(__file__).parent / "agent"
AGENT_ID: str = json.loads((AGENT_SOURCE / "runagent.config.json").read_text())["agent_id"]
TAGS = ("echo", "echo_stream", "boom", "boom_stream", "add")

READY_MARKER = "controldeck-runagent.json"
CLI_MODULE = "runagent.cli.main"
HEALTH_WAIT = 60.0  # seconds from `serve` to a healthy /api/v1/health
STOP_WAIT = 5.0  # seconds from SIGTERM to SIGKILL
BUILD_LOCK_WAIT = 1800.0  # another process building the venv
PY_TAG = f"py{sys.version_info.major}.{sys.version_info.minor}"

# Captured at import, before any fixture points HOME at a temp directory
# (tests/runagent/conftest.py does so for every test): the venv cache lives in the real home.
_REAL_HOME = os.path.expanduser("~")
_XDG_CACHE_HOME = os.environ.get("XDG_CACHE_HOME", "")
_VENV_OVERRIDE = os.environ.get(VENV_ENV, "")

# What the server's environment keeps from ours; everything else (RUNAGENT_API_KEY,
# RUNAGENT_BASE_URL, PYTHONPATH=src, VIRTUAL_ENV, CONTROLDECK_*...) stays out.
_SERVER_ENV_KEEP = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR", "SYSTEMROOT")
# What the venv build drops from ours (pip's own settings, proxies and HOME stay).
_BUILD_ENV_DROP_PREFIXES = ("RUNAGENT_", "CONTROLDECK_", "PYTHON", "VIRTUAL_ENV", "CONDA_")


def default_venv_dir() -> Path:
    """`$CONTROLDECK_RUNAGENT_VENV`, else `$XDG_CACHE_HOME` (or `~/.cache`) `/controldeck/...`."""
    if _VENV_OVERRIDE:
        return Path(_VENV_OVERRIDE).expanduser().absolute()
    cache = Path(_XDG_CACHE_HOME) if _XDG_CACHE_HOME else Path(_REAL_HOME) / ".cache"
    return cache / "controldeck" / f"runagent-{RUNAGENT_VERSION}-{PY_TAG}"


def venv_python(venv: Path) -> Path:
    """The venv's interpreter."""
    return venv / "bin" / "python"


def cli(venv: Path, *args: str | os.PathLike[str]) -> list[str]:
    """The command line of `runagent ARGS` in that venv."""
    return [str(venv_python(venv)), "-m", CLI_MODULE, *map(str, args)]


def tail(path: Path, lines: int = 30) -> str:
    """The last lines of a log file (or a note that there is none)."""
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        return f"(no log at {path}: {exc})"
    return "\n".join(text.splitlines()[-lines:])


def _fail(what: str, log: Path, todo: str) -> NoReturn:
    pytest.fail(f"{what}\n--- last lines of {log} ---\n{tail(log)}\n---\n{todo}", pytrace=False)


# --------------------------------------------------------------------------- the venv


@dataclass(frozen=True)
class VenvInfo:
    """The runagent venv and how it was obtained."""

    path: Path
    how: str  # "built", "reused", or "waited" (another process built it meanwhile)
    seconds: float  # time spent getting it (build, lock wait, or the reuse check)


def _is_ready(venv: Path) -> bool:
    marker = venv / READY_MARKER
    if not marker.is_file() or not venv_python(venv).exists():  # exists(): follows the symlink
        return False
    try:
        return bool(json.loads(marker.read_text()).get("runagent") == RUNAGENT_VERSION)
    except (OSError, ValueError, AttributeError):
        return False


def _installed_version(venv: Path) -> str | None:
    code = "import importlib.metadata as m; print(m.version('runagent'))"
    try:
        out = subprocess.run(
            [str(venv_python(venv)), "-c", code],
            capture_output=True,
            text=True,
            timeout=60,
            env=_build_env(),
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def _build_env() -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(_BUILD_ENV_DROP_PREFIXES) or k.startswith("PIP_")
    }
    env.update(
        HOME=_REAL_HOME,
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        PYTHONIOENCODING="utf-8",
        PYTHONUTF8="1",
        NO_COLOR="1",
        TERM="dumb",
    )
    return env


def _run_logged(cmd: list[str], log: Path, *, timeout: float, env: Mapping[str, str]) -> int:
    """Run a command with stdout+stderr appended to `log`; its exit code (-1 on timeout)."""
    with log.open("a") as out:
        out.write(f"\n$ {' '.join(cmd)}\n")
        out.flush()
        try:
            return subprocess.run(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=timeout,
                env=dict(env),
                check=False,
            ).returncode
        except subprocess.TimeoutExpired:
            out.write(f"\n(timed out after {timeout:.0f} s)\n")
            return -1


def _build(target: Path, log: Path) -> None:
    """Build the venv in a temp directory next to `target`, check it, rename it into place."""
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.building-", dir=target.parent))
    todo = (
        f"The e2e tests need `runagent=={RUNAGENT_VERSION}` from the package index once "
        f"(network), then reuse {target}. Fix the cause above and rerun, or build a venv with "
        f"`python3 -m venv DIR && DIR/bin/pip install runagent=={RUNAGENT_VERSION}` and set "
        f"{VENV_ENV}=DIR."
    )
    try:
        env = _build_env()
        log.write_text(f"building {target} (runagent=={RUNAGENT_VERSION}) in {tmp}\n")
        # The running interpreter's venv module: the new venv's base is our base Python,
        # without our .venv's site-packages.
        if _run_logged([sys.executable, "-m", "venv", str(tmp)], log, timeout=300, env=env):
            _fail(f"could not create a venv at {tmp}", log, todo)
        pip = [str(venv_python(tmp)), "-m", "pip", "install", "--no-input"]
        if _run_logged(
            [*pip, "--progress-bar", "off", f"runagent=={RUNAGENT_VERSION}"],
            log,
            timeout=1200,
            env=env,
        ):
            _fail(f"pip could not install runagent=={RUNAGENT_VERSION} into {tmp}", log, todo)
        if _run_logged(cli(tmp, "--help"), log, timeout=120, env=env):
            _fail("`runagent --help` fails in the freshly built venv", log, todo)
        marker = {"runagent": RUNAGENT_VERSION, "python": sys.version.split()[0]}
        (tmp / READY_MARKER).write_text(json.dumps(marker) + "\n")
        tmp.chmod(0o755)  # mkdtemp made it 0700
        os.rename(tmp, target)  # atomic: `target` is either absent or complete
    finally:
        shutil.rmtree(tmp, ignore_errors=True)  # gone after a successful rename


@contextlib.contextmanager
def _build_lock(lock_path: Path) -> Iterator[None]:
    with lock_path.open("a") as handle:
        deadline = time.monotonic() + BUILD_LOCK_WAIT
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    pytest.fail(
                        f"another process has held {lock_path} for {BUILD_LOCK_WAIT:.0f} s "
                        "(building the runagent venv?); stop it or delete the lock file",
                        pytrace=False,
                    )
                time.sleep(0.2)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_venv(target: Path | None = None) -> VenvInfo:
    """The runagent venv: reused when complete, else built (once, under a lock)."""
    start = time.monotonic()
    target = target or default_venv_dir()
    if _is_ready(target):
        return VenvInfo(target, "reused", time.monotonic() - start)
    target.parent.mkdir(parents=True, exist_ok=True)
    log = target.parent / f"{target.name}.build.log"
    with _build_lock(target.parent / f".{target.name}.lock"):
        if _is_ready(target):  # another process built it while we waited
            return VenvInfo(target, "waited", time.monotonic() - start)
        if target.exists():
            if _VENV_OVERRIDE:
                # A venv the developer made: use it if it holds the pinned version, never delete it.
                version = _installed_version(target)
                if version == RUNAGENT_VERSION:
                    return VenvInfo(target, "reused", time.monotonic() - start)
                pytest.fail(
                    f"{VENV_ENV}={target} is not a venv with runagent=={RUNAGENT_VERSION} "
                    f"(found {version or 'none'}); point it at an empty path to build one there",
                    pytrace=False,
                )
            # Ours but incomplete or broken (e.g. its base Python is gone): rebuild it.
            shutil.rmtree(target)
        _build(target, log)
    return VenvInfo(target, "built", time.monotonic() - start)


# --------------------------------------------------------------------------- one server


@dataclass(frozen=True)
class LocalServer:
    """A running `runagent serve`, as the tests see it."""

    base_url: str  # http://127.0.0.1:{port}
    agent_id: str
    cache_dir: Path  # RUNAGENT_CACHE_DIR: holds runagent_local.db
    agent_dir: Path
    port: int
    host: str
    home: Path  # the server's HOME (cache_dir is HOME/.runagent)
    pid: int
    log: Path
    start_seconds: float  # register + serve + healthy

    @property
    def registry_path(self) -> Path:
        """The server's registry (SQLite)."""
        return self.cache_dir / "runagent_local.db"

    @property
    def api(self) -> str:
        """The API root, http://127.0.0.1:{port}/api/v1."""
        return f"{self.base_url}/api/v1"


def free_port() -> int:
    """A loopback port nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def registry_row(registry: Path, agent_id: str) -> dict[str, Any] | None:
    """The agent's row in a registry (read-only), or None when the file or row is missing."""
    if not registry.is_file():
        return None
    uri = f"{registry.as_uri()}?mode=ro"
    try:
        with contextlib.closing(sqlite3.connect(uri, uri=True, timeout=1)) as db:
            db.row_factory = sqlite3.Row
            row = db.execute(
                "SELECT agent_id, agent_path, host, port, framework, status"
                " FROM agents WHERE agent_id = ?",
                (agent_id,),
            ).fetchone()
    except sqlite3.Error:
        return None  # not created yet, or locked mid-write
    return dict(row) if row is not None else None


def server_env(home: Path, cache_dir: Path) -> dict[str, str]:
    """The server's whole environment: a few of ours, its own HOME and registry, no API key."""
    env = {k: os.environ[k] for k in _SERVER_ENV_KEEP if k in os.environ}
    env.update(
        HOME=str(home),
        RUNAGENT_CACHE_DIR=str(cache_dir),
        PYTHONIOENCODING="utf-8",  # rich prints non-ASCII; the log file is not a terminal
        PYTHONUTF8="1",
        PYTHONUNBUFFERED="1",
        PYTHONDONTWRITEBYTECODE="1",
        NO_COLOR="1",
        TERM="dumb",
        COLUMNS="200",
    )
    return env


def ws_log(server: LocalServer) -> tuple[int, int]:
    """(WebSockets the server accepted, WebSocket connections it saw closed), from its log."""
    lines = server.log.read_text(errors="replace").splitlines()
    accepted = sum(1 for line in lines if '/run-stream" [accepted]' in line)
    closed = sum(1 for line in lines if line.strip() == "INFO:     connection closed")
    return accepted, closed


def wait_ws_closed(server: LocalServer, before: tuple[int, int], streams: int) -> None:
    """Wait (at most 2 s) until the server's log shows `streams` more WebSockets accepted
    than `before`, and as many more closed.

    The local server never closes a stream's socket itself (reference §2.6), so a closed
    connection in its log means the client closed it.
    """
    want = (before[0] + streams, before[1] + streams)
    deadline = time.monotonic() + 2.0
    while ws_log(server) != want:
        if time.monotonic() > deadline:
            pytest.fail(f"server log: (accepted, closed) = {ws_log(server)}, want {want}")
        time.sleep(0.05)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # a process of another user took the id: not ours
        return False
    return True


def stop(proc: subprocess.Popen[bytes], log: Path) -> None:
    """SIGTERM by PID, wait (SIGKILL after STOP_WAIT s), then check its process group is empty."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(STOP_WAIT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(STOP_WAIT)
            _fail(
                f"runagent serve (pid {proc.pid}) ignored SIGTERM for {STOP_WAIT} s",
                log,
                "It was killed; see its log.",
            )
    # The server ran in its own session (start_new_session): its group id is its PID, so
    # any process it started and left running is still in that group.
    deadline = time.monotonic() + 1.0
    while _group_alive(proc.pid):
        if time.monotonic() > deadline:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            _fail(
                f"runagent serve (pid {proc.pid}) left processes behind (killed now)",
                log,
                "A child of the server outlived it.",
            )
        time.sleep(0.05)


def _wait_healthy(
    proc: subprocess.Popen[bytes], registry: Path, agent_id: str, port: int, log: Path
) -> int:
    """Wait for the agent's /api/v1/health; the port it really listens on (from the registry)."""
    deadline = time.monotonic() + HEALTH_WAIT
    last = "nothing tried yet"
    with requests.Session() as http:
        while True:
            if proc.poll() is not None:
                _fail(
                    f"runagent serve exited with {proc.returncode} before it was healthy",
                    log,
                    "See the server log above.",
                )
            row = registry_row(registry, agent_id)
            if row is not None and row["status"] == "serving":
                port = int(row["port"])  # serve picks another port when ours was taken
            try:
                reply = http.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=1)
                body = reply.json() if reply.ok else None
                if isinstance(body, dict) and body.get("agent_id") == agent_id:
                    return port
                last = f"HTTP {reply.status_code} {reply.text[:200]!r}"
            except (requests.RequestException, ValueError) as exc:
                last = type(exc).__name__
            if time.monotonic() > deadline:
                _fail(
                    f"runagent serve was not healthy on 127.0.0.1:{port} after "
                    f"{HEALTH_WAIT:.0f} s (last: {last})",
                    log,
                    "See the server log above.",
                )
            time.sleep(0.1)


@contextlib.contextmanager
def serve_agent(venv: Path, workdir: Path, agent_id: str = AGENT_ID) -> Iterator[LocalServer]:
    """Register and serve the test agent under `workdir`; stop it on exit."""
    start = time.monotonic()
    home = workdir / "home"
    cache_dir = home / ".runagent"
    agent_dir = workdir / "agent"
    cache_dir.mkdir(parents=True)
    shutil.copytree(AGENT_SOURCE, agent_dir, ignore=shutil.ignore_patterns("__pycache__"))
    if agent_id != AGENT_ID:
        config = json.loads((agent_dir / "runagent.config.json").read_text())
        config["agent_id"] = agent_id
        (agent_dir / "runagent.config.json").write_text(json.dumps(config))
    env = server_env(home, cache_dir)
    registry = cache_dir / "runagent_local.db"

    register_log = workdir / "register.log"
    code = _run_logged(
        cli(venv, "config", "--register-agent", agent_dir), register_log, timeout=120, env=env
    )
    if code or registry_row(registry, agent_id) is None:
        _fail(
            f"`runagent config --register-agent` exited with {code} and the agent is "
            f"{'not ' if registry_row(registry, agent_id) is None else ''}in {registry}",
            register_log,
            "See the log above.",
        )

    log = workdir / "serve.log"
    port = free_port()
    with log.open("w") as out:
        proc = subprocess.Popen(
            cli(
                venv,
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--no-animation",
                agent_dir,
            ),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=workdir,
            start_new_session=True,  # its own process group, to find what it leaves behind
        )
    try:
        port = _wait_healthy(proc, registry, agent_id, port, log)
        yield LocalServer(
            base_url=f"http://127.0.0.1:{port}",
            agent_id=agent_id,
            cache_dir=cache_dir,
            agent_dir=agent_dir,
            port=port,
            host="127.0.0.1",
            home=home,
            pid=proc.pid,
            log=log,
            start_seconds=time.monotonic() - start,
        )
    finally:
        stop(proc, log)
