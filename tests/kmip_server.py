"""A real KMIP server for tests: PyKMIP's `pykmip-server` as a process, with its own test
certificate authority (server and client certificates, mutual TLS) and a SQLite key store
in a temporary directory."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from muster_cli.bench.measure import free_ports


@dataclass(frozen=True)
class KmipServer:
    host: str
    port: int
    ca: Path
    client_certificate: Path
    client_key: Path
    directory: Path

    def environment(self, key_name: str) -> dict[str, str]:
        """The volunteer service's settings for this server."""
        return {
            "MUSTER_KEK_PROVIDER": "kmip",
            "MUSTER_KMIP_HOST": self.host,
            "MUSTER_KMIP_PORT": str(self.port),
            "MUSTER_KMIP_CERTIFICATE": str(self.client_certificate),
            "MUSTER_KMIP_PRIVATE_KEY": str(self.client_key),
            "MUSTER_KMIP_CA": str(self.ca),
            "MUSTER_KMIP_KEY_NAME": key_name,
        }


def _issue(
    directory: Path,
    name: str,
    subject: str,
    usage: x509.ObjectIdentifier,
    ca_key: ec.EllipticCurvePrivateKey,
    ca_name: x509.Name,
) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=2))
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    (directory / f"{name}.pem").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    (directory / f"{name}-key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


def _certificates(directory: Path) -> None:
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "muster test KMIP CA")])
    now = datetime.now(UTC)
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    (directory / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    _issue(directory, "server", "127.0.0.1", ExtendedKeyUsageOID.SERVER_AUTH, ca_key, ca_name)
    # The server takes the client's identity from its certificate's common name.
    _issue(
        directory, "client", "muster-volunteer", ExtendedKeyUsageOID.CLIENT_AUTH, ca_key, ca_name
    )


@contextlib.contextmanager
def running_kmip_server(directory: Path) -> Iterator[KmipServer]:
    executable = shutil.which("pykmip-server", path=str(Path(sys.executable).parent))
    assert executable, "pykmip-server is not installed (uv sync)"
    directory.mkdir(parents=True, exist_ok=True)
    _certificates(directory)
    (directory / "policies").mkdir(exist_ok=True)
    (port,) = free_ports(1)
    (directory / "server.conf").write_text(
        "[server]\n"
        "hostname=127.0.0.1\n"
        f"port={port}\n"
        f"certificate_path={directory / 'server.pem'}\n"
        f"key_path={directory / 'server-key.pem'}\n"
        f"ca_path={directory / 'ca.pem'}\n"
        "auth_suite=TLS1.2\n"
        f"policy_path={directory / 'policies'}\n"
        "enable_tls_client_auth=True\n"
        "logging_level=INFO\n"
        f"database_path={directory / 'keys.sqlite'}\n"
    )
    log = (directory / "server.out").open("wb")
    process = subprocess.Popen(
        [executable, "-f", str(directory / "server.conf"), "-l", str(directory / "server.log")],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=os.environ | {"PYTHONWARNINGS": "ignore"},
        # Its own process group: the server forks a policy-file monitor, stopped with it.
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
                break
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    "pykmip-server did not start: " + (directory / "server.out").read_text()[-2000:]
                )
            time.sleep(0.1)
        yield KmipServer(
            "127.0.0.1",
            port,
            directory / "ca.pem",
            directory / "client.pem",
            directory / "client-key.pem",
            directory,
        )
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=10)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        log.close()
