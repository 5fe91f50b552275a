"""A local single-node Apache Kafka (KRaft) broker, run from the official jars.

``LocalKafka(config).up()`` fetches the jars once (Maven, cached outside the git tree),
writes ``server.properties`` and a log4j2 config into a state folder, formats the storage,
starts the broker detached in its own session (so it outlives ``peerlink kafka up``), waits
until it answers and creates the registry topics. ``down()`` stops it by the pid in its pid
file, after checking that pid is still this broker.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from schemas.topics import TOPICS, Topic
from services.devkafka.config import (
    Listener,
    new_cluster_id,
    render_log4j2,
    render_properties,
    server_properties,
)
from services.devkafka.jars import ensure_jars, jars_cached, libs_dir, validate_version
from services.devkafka.tools import Which, find_toolchain
from services.runtime.settings import KafkaSettings
from services.runtime.topics_admin import BrokerUnreachable, ensure_topics, wait_for_broker

__all__ = [
    "DEFAULT_PORT",
    "DEFAULT_VERSION",
    "BrokerStatus",
    "KafkaStartError",
    "LocalKafka",
    "LocalKafkaConfig",
    "Report",
    "default_cache_root",
    "default_state_dir",
]

DEFAULT_VERSION = "4.1.1"
DEFAULT_PORT = 9092

Report = Callable[[str], None]


def _silent(_line: str) -> None:
    return None


class KafkaStartError(RuntimeError):
    """The local broker could not be started; the message points at its log."""


def _cache_home(env: Mapping[str, str]) -> Path:
    xdg = env.get("XDG_CACHE_HOME")
    return Path(xdg) if xdg else Path.home() / ".cache"


def default_cache_root(env: Mapping[str, str] | None = None) -> Path:
    """Where jars are cached: ``$PEERLINK_KAFKA_CACHE`` or ``~/.cache/peerlink/kafka``."""
    env = os.environ if env is None else env
    override = env.get("PEERLINK_KAFKA_CACHE")
    return Path(override).expanduser() if override else _cache_home(env) / "peerlink" / "kafka"


def default_state_dir(port: int, env: Mapping[str, str] | None = None) -> Path:
    """Per-broker state: ``$PEERLINK_KAFKA_STATE_DIR`` or ``~/.cache/peerlink/run/<port>``."""
    env = os.environ if env is None else env
    override = env.get("PEERLINK_KAFKA_STATE_DIR")
    if override:
        return Path(override).expanduser()
    return _cache_home(env) / "peerlink" / "run" / str(port)


@dataclass(frozen=True, kw_only=True)
class LocalKafkaConfig:
    """Everything that defines one local broker. Build it with ``from_env`` in most cases."""

    cache_root: Path
    state_dir: Path
    version: str = DEFAULT_VERSION
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    #: None means ``port + 1``.
    controller_port: int | None = None
    heap: str = "512m"
    start_timeout_s: float = 90.0
    stop_timeout_s: float = 30.0
    extra_listeners: tuple[Listener, ...] = ()
    #: Applied last to server.properties (e.g. SASL/TLS settings of an extra listener).
    extra_properties: Mapping[str, str] = field(default_factory=dict)
    #: SCRAM credentials written into the metadata log when the storage is formatted,
    #: as ``(mechanism, user, password)``, e.g. ``("SCRAM-SHA-256", "intake", "s3cret")``.
    scram_users: tuple[tuple[str, str, str], ...] = ()

    def __post_init__(self) -> None:
        validate_version(self.version)
        for port in (self.port, self.ctrl_port):
            if not 0 < port < 65536:
                raise ValueError(f"port out of range: {port}")

    @property
    def ctrl_port(self) -> int:
        return self.controller_port if self.controller_port is not None else self.port + 1

    @property
    def bootstrap_servers(self) -> str:
        return f"{self.host}:{self.port}"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> LocalKafkaConfig:
        """Defaults, then ``PEERLINK_KAFKA_{PORT,CONTROLLER_PORT,VERSION,CACHE,STATE_DIR}``,
        then ``overrides`` (None values are ignored, so CLI flags can be passed through)."""
        env = os.environ if env is None else env
        given = {k: v for k, v in overrides.items() if v is not None}
        port = int(given.pop("port", env.get("PEERLINK_KAFKA_PORT") or DEFAULT_PORT))
        values: dict[str, Any] = {
            "port": port,
            "version": env.get("PEERLINK_KAFKA_VERSION") or DEFAULT_VERSION,
            "cache_root": default_cache_root(env),
            "state_dir": default_state_dir(port, env),
        }
        if env.get("PEERLINK_KAFKA_CONTROLLER_PORT"):
            values["controller_port"] = int(env["PEERLINK_KAFKA_CONTROLLER_PORT"])
        values.update(given)
        return cls(**values)


@dataclass(frozen=True, kw_only=True)
class BrokerStatus:
    running: bool
    pid: int | None
    bootstrap_servers: str
    state_dir: Path
    log_file: Path

    def describe(self) -> str:
        if self.running:
            return (
                f"running: pid {self.pid} on {self.bootstrap_servers} "
                f"(state {self.state_dir}, log {self.log_file})"
            )
        return f"stopped: no local broker for {self.bootstrap_servers} (state {self.state_dir})"


def _port_in_use(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return True
    return False


def _tail(path: Path, lines: int = 20) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def _without_stack(text: str, lines: int = 5) -> str:
    """A Java error without its stack frames."""
    kept = [line for line in text.strip().splitlines() if not line.lstrip().startswith("at ")]
    return "\n".join(kept[:lines])


def _last_error(log_file: Path) -> str:
    """The broker's last ERROR line and the exception line after it, if any."""
    try:
        lines = log_file.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    for index in range(len(lines) - 1, -1, -1):
        if "] ERROR " in lines[index] or "] FATAL " in lines[index]:
            return _without_stack("\n".join(lines[index : index + 2]))
    return ""


def _command_line(pid: int) -> str:
    """The process's command line, or '' when it is gone (or a zombie)."""
    if Path("/proc/self").exists():
        try:
            raw = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            return ""
        return raw.replace(b"\0", b" ").decode(errors="replace")
    completed = subprocess.run(
        ["ps", "-o", "command=", "-p", str(pid)], capture_output=True, text=True, check=False
    )
    return completed.stdout.strip()


class LocalKafka:
    """Start, stop and inspect one local broker described by a ``LocalKafkaConfig``."""

    def __init__(
        self,
        config: LocalKafkaConfig,
        *,
        which: Which = shutil.which,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.config = config
        self._which = which
        self._env = env
        # Kept when this object started the broker, so its exit status is collected and the
        # process does not linger as a zombie.
        self._process: subprocess.Popen[bytes] | None = None

    # -- files -------------------------------------------------------------------------------
    @property
    def state_dir(self) -> Path:
        return self.config.state_dir

    @property
    def data_dir(self) -> Path:
        return self.state_dir / "data"

    @property
    def log_file(self) -> Path:
        return self.state_dir / "logs" / "server.log"

    @property
    def console_file(self) -> Path:
        """JVM stdout/stderr (crashes before log4j starts land here)."""
        return self.state_dir / "logs" / "console.log"

    @property
    def pid_file(self) -> Path:
        return self.state_dir / "kafka.pid"

    @property
    def properties_file(self) -> Path:
        return self.state_dir / "server.properties"

    @property
    def log4j_file(self) -> Path:
        return self.state_dir / "log4j2.properties"

    @property
    def libs_dir(self) -> Path:
        return libs_dir(self.config.cache_root, self.config.version)

    @property
    def bootstrap_servers(self) -> str:
        return self.config.bootstrap_servers

    def settings(self) -> KafkaSettings:
        """Client settings for this broker (topic prefix etc. still come from the env)."""
        return KafkaSettings(
            bootstrap_servers=self.bootstrap_servers, security_protocol="PLAINTEXT"
        )

    def server_properties(self) -> dict[str, str]:
        return server_properties(
            host=self.config.host,
            port=self.config.port,
            controller_port=self.config.ctrl_port,
            data_dir=self.data_dir,
            extra_listeners=self.config.extra_listeners,
            extra=self.config.extra_properties,
        )

    # -- process -----------------------------------------------------------------------------
    def _marker(self) -> str:
        # Part of the JVM command line: identifies this broker's process beyond its pid.
        return f"-Dpeerlink.devkafka.state={self.state_dir}"

    def _is_ours(self, pid: int) -> bool:
        if self._process is not None and self._process.pid == pid:
            # Our own child: its exit status is authoritative (and reaps it). Its command line
            # reads as empty for a moment right after exec, so it is not consulted.
            return self._process.poll() is None
        cmdline = _command_line(pid)
        return "kafka.Kafka" in cmdline and self._marker() in cmdline

    def running_pid(self) -> int | None:
        """The broker's pid if the pid file names a live process that is this broker."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if self._is_ours(pid) else None

    def status(self) -> BrokerStatus:
        pid = self.running_pid()
        return BrokerStatus(
            running=pid is not None,
            pid=pid,
            bootstrap_servers=self.bootstrap_servers,
            state_dir=self.state_dir,
            log_file=self.log_file,
        )

    def _java_command(self, java: Path, main: str, *args: str, jvm: Sequence[str]) -> list[str]:
        return [
            str(java),
            *jvm,
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={self.log4j_file}",
            f"-Dkafka.logs.dir={self.log_file.parent}",
            "-cp",
            f"{self.libs_dir}/*",
            main,
            *args,
        ]

    def _write_config(self) -> None:
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        self.properties_file.write_text(render_properties(self.server_properties()))
        self.log4j_file.write_text(render_log4j2(self.log_file))

    def _format_storage(self, java: Path) -> bool:
        """Format KRaft storage unless a previous run (``down --keep-data``) left it."""
        if (self.data_dir / "meta.properties").is_file():
            return False
        command = self._java_command(
            java,
            "kafka.tools.StorageTool",
            "format",
            "--cluster-id",
            new_cluster_id(),
            "--config",
            str(self.properties_file),
            "--ignore-formatted",
            *(
                arg
                for mechanism, user, password in self.config.scram_users
                for arg in ("--add-scram", f"{mechanism}=[name={user},password={password}]")
            ),
            # A short-lived JVM: skip the optimising JIT and start faster.
            jvm=("-Xmx256m", "-XX:TieredStopAtLevel=1"),
        )
        completed = subprocess.run(
            command,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if completed.returncode != 0:
            raise KafkaStartError(
                f"formatting Kafka storage in {self.data_dir} failed "
                f"(exit {completed.returncode}): "
                + _without_stack(completed.stderr or completed.stdout)
            )
        return True

    def _spawn(self, java: Path) -> int:
        command = self._java_command(
            java,
            "kafka.Kafka",
            str(self.properties_file),
            jvm=(
                self._marker(),
                f"-Xmx{self.config.heap}",
                "-Xms128m",
                "-XX:+UseG1GC",
                "-XX:MaxGCPauseMillis=20",
                "-XX:+ExitOnOutOfMemoryError",
            ),
        )
        with self.console_file.open("ab") as console:
            process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=console,
                stderr=subprocess.STDOUT,
                cwd=self.state_dir,
                # Own session and process group: Ctrl-C in the terminal that ran `up` does not
                # reach it, and it survives the `up` command.
                start_new_session=True,
                close_fds=True,
            )
        self._process = process
        self.pid_file.write_text(f"{process.pid}\n")
        return process.pid

    # -- lifecycle ---------------------------------------------------------------------------
    async def up(
        self,
        *,
        topics: tuple[Topic, ...] | None = TOPICS,
        report: Report = _silent,
    ) -> KafkaSettings:
        """Start the broker (or reuse the running one), wait for it, create ``topics``.

        Returns client settings for it. Blocking steps run in a worker thread so this can be
        awaited inside a running event loop (e.g. a pytest session fixture).
        """
        cfg = self.config
        started = time.monotonic()
        pid = self.running_pid()
        if pid is not None:
            report(f"kafka already running: pid {pid} on {self.bootstrap_servers}")
        else:
            tools = find_toolchain(
                which=self._which,
                env=self._env,
                need_maven=not jars_cached(cfg.cache_root, cfg.version),
            )
            for port in (cfg.port, cfg.ctrl_port):
                if _port_in_use(cfg.host, port):
                    raise KafkaStartError(
                        f"port {cfg.host}:{port} is already in use; pick another with --port "
                        "(or PEERLINK_KAFKA_PORT / PEERLINK_KAFKA_CONTROLLER_PORT)"
                    )
            libs = await asyncio.to_thread(
                ensure_jars,
                version=cfg.version,
                cache_root=cfg.cache_root,
                maven=tools.maven,
                report=report,
            )
            report(f"kafka {cfg.version} jars: {libs}")
            self.state_dir.mkdir(parents=True, exist_ok=True)
            self._write_config()
            if await asyncio.to_thread(self._format_storage, tools.java):
                report(f"storage formatted: {self.data_dir}")
            pid = self._spawn(tools.java)
            report(f"broker started: pid {pid}, log {self.log_file}")

        broker_pid = pid

        def exited() -> str | None:
            if self._is_ours(broker_pid):
                return None
            excerpt = _last_error(self.log_file) or _tail(self.console_file, 5)
            return (
                f"the Kafka broker (pid {broker_pid}) exited during start-up; see "
                f"{self.log_file} and {self.console_file}\n{excerpt}"
            )

        settings = self.settings()
        waiting_since = time.monotonic()
        try:
            await wait_for_broker(settings, timeout_s=cfg.start_timeout_s, abort=exited)
        except BrokerUnreachable as exc:
            if self._is_ours(broker_pid):
                self.down(keep_data=True)
                raise KafkaStartError(
                    f"Kafka did not answer on {self.bootstrap_servers} within "
                    f"{cfg.start_timeout_s:g} s and was stopped; see {self.log_file}"
                ) from exc
            raise KafkaStartError(str(exc)) from exc
        report(
            f"broker ready on {self.bootstrap_servers} "
            f"(answered after {time.monotonic() - waiting_since:.1f} s)"
        )
        if topics:
            created = await ensure_topics(settings, topics)
            report(f"topics: {len(created)} created, {len(topics) - len(created)} already there")
        report(f"kafka up in {time.monotonic() - started:.1f} s")
        return settings

    def down(self, *, keep_data: bool = False, report: Report = _silent) -> bool:
        """Stop the broker (SIGTERM, then SIGKILL after ``stop_timeout_s``); return whether
        one was running. Removes its data unless ``keep_data``."""
        pid = self.running_pid()
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
            if not self._wait_gone(pid, self.config.stop_timeout_s):
                report(f"broker pid {pid} ignored SIGTERM for {self.config.stop_timeout_s:g} s")
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                self._wait_gone(pid, 10.0)
            report(f"broker stopped: pid {pid}")
        else:
            report(f"no local broker running for {self.bootstrap_servers}")
        self.pid_file.unlink(missing_ok=True)
        if not keep_data and self.data_dir.exists():
            shutil.rmtree(self.data_dir)
            report(f"data removed: {self.data_dir}")
        return pid is not None

    def _wait_gone(self, pid: int, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not self._is_ours(pid):
                return True
            time.sleep(0.1)
        return not self._is_ours(pid)
