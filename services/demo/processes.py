"""Running each PeerLink service as its own OS process, and stopping exactly those processes.

Each service runs ``python -m services.demo.launch <cli module> <args>``, which is the same
``peerlink <service> run`` command line, parsed by that service's own CLI module (so it works
whether or not the module is registered in ``services.cli``). Every child gets its own session,
so a Ctrl-C in the terminal reaches only the demo, which then stops its children in order.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

__all__ = ["ServiceProcess", "ServiceSpec"]

#: ``pkg.module.SomeError: message``: the line of a traceback that names the failure.
_EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(?:Error|Exception|Interrupt)\b")


@dataclass(frozen=True, kw_only=True)
class ServiceSpec:
    """One service: how to start it, which consumer group it forms, what it reads."""

    name: str
    #: The CLI module whose ``register`` defines the command, e.g. ``services.cli.intake_cmd``.
    cli_module: str
    argv: tuple[str, ...]
    group_id: str
    #: Logical input topics (the registry names).
    inputs: tuple[str, ...]
    env: Mapping[str, str] = field(default_factory=dict)

    def command(self) -> list[str]:
        return [sys.executable, "-m", "services.demo.launch", self.cli_module, *self.argv]


class ServiceProcess:
    """A started service; ``stop()`` sends SIGTERM to its own process group, then SIGKILL."""

    def __init__(self, spec: ServiceSpec, *, log_dir: Path, base_env: Mapping[str, str]) -> None:
        self.spec = spec
        self.log_path = log_dir / f"{spec.name}.log"
        log_dir.mkdir(parents=True, exist_ok=True)
        self._log: IO[bytes] = self.log_path.open("ab")
        env = {**base_env, **spec.env}
        self.process = subprocess.Popen(
            spec.command(),
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def exit_code(self) -> int | None:
        return self.process.poll()

    def describe_exit(self) -> str:
        code = self.exit_code()
        tail = ""
        with contextlib.suppress(OSError):
            lines = [ln.strip() for ln in self.log_path.read_text(errors="replace").splitlines()]
            # The exception line says more than a trailing hint or a blank line.
            errors = [ln for ln in lines[-40:] if _EXCEPTION_LINE.match(ln)]
            tail = (errors or [ln for ln in lines if ln] or [""])[-1][:300]
        last = f"; last log line: {tail}" if tail else ""
        return f"{self.spec.name} exited with code {code} (log {self.log_path}){last}"

    def stop(self, timeout_s: float = 15.0) -> None:
        """Stop this service (and only it); safe to call twice."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                # The child leads its own session: its group is exactly its process tree.
                os.killpg(self.process.pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout_s
            while self.process.poll() is None and time.monotonic() < deadline:
                time.sleep(0.05)
            if self.process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        self._log.close()
