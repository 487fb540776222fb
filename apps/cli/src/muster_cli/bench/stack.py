"""The services under test: the three Muster services as processes of their own, on fresh
ports, databases and topics, against the running Kafka and document store."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from pymongo import AsyncMongoClient

from muster_auth.dev_tokens import development_jwt_secret
from muster_auth.keys import LocalKeyFile
from muster_cli.bench.measure import free_port, wait_until_ready
from muster_runtime.adapters.mongodb.read_model_versions import ReadModelVersions, version_name
from muster_runtime.mongo import MongoClient
from muster_runtime.topics import delete_topics

SERVICES = ("volunteer", "dispatch", "reporting")


@dataclass
class BenchStack:
    run_id: str
    bootstrap: str
    mongo_url: str
    urls: dict[str, str] = field(default_factory=dict)
    pids: dict[str, int] = field(default_factory=dict)
    logs: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="muster-bench-")))
    _processes: list[asyncio.subprocess.Process] = field(default_factory=list)

    @property
    def topic_prefix(self) -> str:
        return f"bench-{self.run_id}"

    def database(self, service: str) -> str:
        return f"bench_{self.run_id}_{service}"

    def env(self, service: str, port: int) -> dict[str, str]:
        LocalKeyFile.create(self.logs / "kek.json")
        return os.environ | {
            # Throwaway services: development defaults allowed, tokens as the bench issues them.
            "MUSTER_DEV_MODE": "1",
            "MUSTER_JWT_SECRET": development_jwt_secret(),
            "MUSTER_KEK_FILE": str(self.logs / "kek.json"),
            "MUSTER_HTTP_PORT": str(port),
            "MUSTER_KAFKA_BOOTSTRAP": self.bootstrap,
            "MUSTER_MONGO_URL": self.mongo_url,
            "MUSTER_MONGO_DB": self.database(service),
            "MUSTER_TOPIC_PREFIX": self.topic_prefix,
            "MUSTER_LOG_LEVEL": "WARNING",
        }

    async def start(self, service: str, name: str | None = None) -> str:
        """Start one process of `service` (a second reporting replica: name it)."""
        name = name or service
        port = free_port()
        log = (self.logs / f"{name}.log").open("wb")
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", f"muster_{service}",
            env=self.env(service, port), stdout=log, stderr=log,
        )  # fmt: skip
        self._processes.append(process)
        self.pids[name] = process.pid
        self.urls[name] = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(base_url=self.urls[name], timeout=5) as client:
            try:
                await wait_until_ready(client, timeout=90)
            except TimeoutError:
                tail = (self.logs / f"{name}.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"{name} did not start: {tail}") from None
        return self.urls[name]

    async def stop(self, name: str) -> None:
        pid = self.pids.pop(name)
        self.urls.pop(name)
        for process in self._processes:
            if process.pid == pid:
                process.terminate()
                await process.wait()

    async def close(self, *, keep_data: bool = False) -> None:
        for process in self._processes:
            if process.returncode is None:
                process.terminate()
        for process in self._processes:
            with contextlib.suppress(ProcessLookupError):
                await process.wait()
        if keep_data:
            return
        await delete_topics(self.bootstrap, self.topic_prefix)
        client: MongoClient = AsyncMongoClient(self.mongo_url)
        try:
            for service in SERVICES:
                database = self.database(service)
                for version in await ReadModelVersions(client, database, service).built():
                    await client.drop_database(version_name(database, version))
                await client.drop_database(database)
        finally:
            await client.close()


@contextlib.asynccontextmanager
async def bench_stack(
    bootstrap: str, mongo_url: str, *, keep_data: bool = False
) -> AsyncIterator[BenchStack]:
    stack = BenchStack(f"{int(time.time())}{os.getpid() % 1000}", bootstrap, mongo_url)
    try:
        for service in SERVICES:
            await stack.start(service)
        yield stack
    finally:
        await stack.close(keep_data=keep_data)
