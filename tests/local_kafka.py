"""A Kafka of the test's own: one node or a three-node cluster, started by
`deploy/local/stack.sh` in a state directory and on ports of its own, so a test that stops
a broker stops only one it started itself (never the broker the tests were given, nor a
developer's)."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import socket
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STACK = ROOT / "deploy" / "local" / "stack.sh"
NODE_PORT_STEP = 100  # stack.sh: node n listens on the base ports + 100 * (n - 1)


def _ports_free(ports: list[int]) -> bool:
    with contextlib.ExitStack() as held:
        for port in ports:
            s = held.enter_context(socket.socket())
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                return False
    return True


def _free_base(nodes: int) -> int:
    """A base port such that each node's broker (base) and controller (base + 1) are free."""
    chance = random.Random()
    for _ in range(200):
        base = chance.randrange(20000, 60000 - NODE_PORT_STEP * nodes, 2)
        ports = [base + NODE_PORT_STEP * n + k for n in range(nodes) for k in (0, 1)]
        if _ports_free(ports):
            return base
    raise RuntimeError("no free ports for a local Kafka")


def _kafka_jars() -> Path | None:
    """The checkout's Kafka jars (`make install`), shared rather than fetched again."""
    state = Path(os.environ.get("MUSTER_STATE_DIR") or ROOT / ".state")
    libs = state / "kafka" / "libs"
    return libs if (libs / ".fetched").exists() else None


class LocalKafka:
    """Kafka in `state` (a fresh directory), on free ports; `nodes` is 1 or 3."""

    def __init__(self, state: Path, nodes: int = 1) -> None:
        self.state = state
        self.nodes = nodes
        base = _free_base(nodes)
        self.env = os.environ | {
            "MUSTER_STATE_DIR": str(state),
            "MUSTER_KAFKA_NODES": str(nodes),
            "MUSTER_KAFKA_PORT": str(base),
            "MUSTER_KAFKA_CONTROLLER_PORT": str(base + 1),
            "MUSTER_START_TIMEOUT": "120",
        }
        self.env.pop("MUSTER_KAFKA_BOOTSTRAP", None)
        self.ports = {n: base + NODE_PORT_STEP * (n - 1) for n in range(1, nodes + 1)}
        self.bootstrap = ",".join(f"127.0.0.1:{p}" for p in self.ports.values())
        state.mkdir(parents=True, exist_ok=True)
        jars = _kafka_jars()
        if jars is not None and not (state / "kafka" / "libs").exists():
            (state / "kafka").mkdir(exist_ok=True)
            (state / "kafka" / "libs").symlink_to(jars, target_is_directory=True)

    def component(self, node: int) -> str:
        return "kafka" if self.nodes == 1 else f"kafka-{node}"

    def stack(self, *args: str, timeout: float = 300) -> str:
        done = subprocess.run(
            ["bash", str(STACK), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"stack.sh {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
        return done.stdout

    def up(self, *nodes: int) -> None:
        self.stack("up", *(self.component(n) for n in nodes or self.ports))

    def down(self, *nodes: int) -> None:
        """A clean stop (SIGTERM: the broker hands its partitions over, then exits)."""
        self.stack("down", *(self.component(n) for n in nodes or self.ports))

    def pid(self, node: int) -> int:
        return int((self.state / "run" / f"{self.component(node)}.pid").read_text().strip())

    def kill(self, node: int) -> None:
        """SIGKILL the node's process group: no controlled shutdown, no flush."""
        pid = self.pid(node)
        os.killpg(pid, signal.SIGKILL)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.1)
        raise RuntimeError(f"{self.component(node)} (pid {pid}) survived SIGKILL")

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.stack("down")
