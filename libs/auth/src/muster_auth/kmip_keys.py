"""Key-encryption keys held by a KMIP server (OASIS KMIP 1.4 over mutual TLS).

The KEKs are AES-256 keys created inside the server and never leave it: a data key is
wrapped by the server's Encrypt operation (AES-GCM, the owner's id as additional data) and
unwrapped by its Decrypt. The KEKs carry one KMIP Name; the current one is the most recent
the server's Locate returns for that name, and a rotation creates and activates a new one.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import warnings
from collections.abc import Callable
from typing import Any, TypeVar

# The library still uses APIs its dependencies deprecated; their warnings say nothing here.
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from kmip.core import enums
    from kmip.core.attributes import CryptographicParameters
    from kmip.core.exceptions import OperationFailure
    from kmip.core.factories.attributes import AttributeFactory
    from kmip.core.messages import payloads
    from kmip.pie.client import ProxyKmipClient
    from kmip.pie.exceptions import KmipOperationFailure

from muster_auth.keys import KeyUnavailableError

NONCE_BYTES = 12
TAG_BYTES = 16
T = TypeVar("T")


class KmipKeys:
    """The `KeyEncryptionKeys` port on a KMIP server; one TLS connection, used by one
    request at a time from a worker thread (the client library blocks)."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        certificate: str,
        private_key: str,
        ca: str,
        key_name: str,
    ) -> None:
        self._settings: dict[str, Any] = {
            "hostname": host,
            "port": port,
            "cert": certificate,
            "key": private_key,
            "ca": ca,
        }
        self._key_name = key_name
        self._client: ProxyKmipClient | None = None
        self._current: str | None = None
        self._lock = threading.Lock()
        self._parameters = CryptographicParameters(
            block_cipher_mode=enums.BlockCipherMode.GCM,
            cryptographic_algorithm=enums.CryptographicAlgorithm.AES,
            tag_length=TAG_BYTES,
        )

    async def current_key_id(self) -> str:
        if self._current is None:
            self._current = await self._call(self._locate_or_create)
        return self._current

    async def wrap(self, key_id: str, data_key: bytes, context: bytes) -> bytes:
        nonce = os.urandom(NONCE_BYTES)

        def encrypt(client: ProxyKmipClient) -> bytes:
            response = client.proxy.send_request_payload(
                enums.Operation.ENCRYPT,
                payloads.EncryptRequestPayload(
                    unique_identifier=key_id,
                    cryptographic_parameters=self._parameters,
                    data=data_key,
                    iv_counter_nonce=nonce,
                    auth_additional_data=context,
                ),
            )
            return nonce + bytes(response.data) + bytes(response.auth_tag)

        return await self._call(encrypt)

    async def unwrap(self, key_id: str, wrapped: bytes, context: bytes) -> bytes:
        nonce, body = wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:]

        def decrypt(client: ProxyKmipClient) -> bytes:
            response = client.proxy.send_request_payload(
                enums.Operation.DECRYPT,
                payloads.DecryptRequestPayload(
                    unique_identifier=key_id,
                    cryptographic_parameters=self._parameters,
                    data=body[:-TAG_BYTES],
                    iv_counter_nonce=nonce,
                    auth_additional_data=context,
                    auth_tag=body[-TAG_BYTES:],
                ),
            )
            return bytes(response.data)

        return await self._call(decrypt)

    async def rotate(self) -> str:
        self._current = await self._call(self._create)
        return self._current

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    def _locate_or_create(self, client: ProxyKmipClient) -> str:
        found = client.locate(attributes=[self._name_attribute()])
        # Locate answers the most recently created first.
        return str(found[0]) if found else self._create(client)

    def _create(self, client: ProxyKmipClient) -> str:
        key_id = str(
            client.create(
                enums.CryptographicAlgorithm.AES,
                256,
                name=self._key_name,
                cryptographic_usage_mask=[
                    enums.CryptographicUsageMask.ENCRYPT,
                    enums.CryptographicUsageMask.DECRYPT,
                ],
            )
        )
        client.activate(key_id)
        return key_id

    def _name_attribute(self) -> Any:
        return AttributeFactory().create_attribute(
            enums.AttributeType.NAME,
            self._key_name,
        )

    async def _call(self, operation: Callable[[ProxyKmipClient], T]) -> T:
        return await asyncio.to_thread(self._locked, operation)

    def _locked(self, operation: Callable[[ProxyKmipClient], T]) -> T:
        with self._lock:
            for attempt in (1, 2):
                client = self._connected()
                try:
                    return operation(client)
                except (OSError, EOFError) as error:  # a dropped connection: reconnect once
                    self._client = None
                    with contextlib.suppress(Exception):
                        client.close()
                    if attempt == 2:
                        raise KeyUnavailableError("the KMIP server is unreachable") from error
                except Exception as error:  # refused, or an answer not understood
                    if not isinstance(error, OperationFailure | KmipOperationFailure):
                        self._client = None
                        with contextlib.suppress(Exception):
                            client.close()
                    raise KeyUnavailableError(f"KMIP server refused: {error}") from error
            raise AssertionError("unreachable")

    def _connected(self) -> ProxyKmipClient:
        if self._client is None:
            try:
                self._client = self._open()
            except Exception as error:
                raise KeyUnavailableError("the KMIP server is unreachable") from error
        return self._client

    def _open(self) -> ProxyKmipClient:
        client = ProxyKmipClient(
            hostname=self._settings["hostname"],
            port=self._settings["port"],
            cert=self._settings["cert"],
            key=self._settings["key"],
            ca=self._settings["ca"],
            config_file=os.devnull,
            kmip_version=enums.KMIPVersion.KMIP_1_4,
        )
        client.open()
        return client
