"""Service settings from the environment (prefix `MUSTER_`), one object per process."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

# Shared with the development token issuer (`muster_auth.dev_tokens`), exported here too.
from muster_contracts.tokens import DEFAULT_AUDIENCE, DEFAULT_ISSUER
from muster_contracts.tokens import DEV_JWT_SECRET as DEV_JWT_SECRET

DEV_PII_PEPPER = "muster-dev-pepper-change-me"
# Values published in this repository (defaults, templates, examples): never real secrets.
KNOWN_DEFAULT_SECRETS = frozenset(
    {
        DEV_JWT_SECRET,
        "change-me-in-production",
        "REPLACE_ME-jwt-signing-secret",
        DEV_PII_PEPPER,
        "REPLACE_ME-pii-pepper",
    }
)


class InsecureSecretsError(SystemExit):
    """A service refuses to start: a secret is missing or is a published default."""


def published_or_missing(value: str) -> bool:
    lowered = value.strip().lower()
    return (
        not lowered
        or value in KNOWN_DEFAULT_SECRETS
        or "change-me" in lowered
        or "replace_me" in lowered
    )


class ServiceSettings(BaseSettings):
    """What every Muster service needs to find its broker, its store and its callers."""

    model_config = SettingsConfigDict(env_prefix="MUSTER_", extra="ignore")

    service_name: str = Field(
        default="muster", description="Names the database, consumer group and logs."
    )
    dev_mode: bool = Field(
        default=False,
        description="Development mode: the published default secrets are accepted. Outside it "
        "a service refuses to start when a secret is missing or a published default.",
    )
    http_host: str = Field(
        default="127.0.0.1", description="Address to listen on (`0.0.0.0` in a container)."
    )
    http_port: int = Field(default=8000, description="HTTP port of the service.")
    kafka_bootstrap: str = Field(
        default="127.0.0.1:9092", description="Kafka bootstrap servers, comma-separated."
    )
    mongo_url: str = Field(
        default="mongodb://127.0.0.1:27017/", description="MongoDB connection string."
    )
    mongo_db: str = Field(default="", description="Database name; default `muster_<service>`.")
    mongo_max_pool: int = Field(
        default=32,
        ge=1,
        description=(
            "Connections per process. Keep it well under 100 on FerretDB: its SQLite backend "
            "opens at most 100 connections per database and deadlocks when they are all busy "
            "while a collection is created or dropped."
        ),
    )
    store_profile: Literal["mongodb", "ferretdb"] = Field(
        default="ferretdb",
        description=(
            "How the store adapters write: `mongodb` (plain in-place updates; the production "
            "setting) or `ferretdb` (the development store's tuning: group commit, packed "
            "counter cells, commits read from memory). Both give the same results on either "
            "store."
        ),
    )
    topic_prefix: str = Field(
        default="muster", description="Topics are `<prefix>.<context>.events`."
    )
    topic_partitions: int = Field(
        default=6, ge=1, description="Partitions of a topic when it is created."
    )
    topic_replication: int = Field(
        default=1,
        ge=1,
        description="Replication factor when a topic is created (3 on a production cluster).",
    )
    jwt_secret: SecretStr = Field(
        default=SecretStr(DEV_JWT_SECRET),
        description="HS256 key of development tokens (those without a `kid`); empty refuses them.",
    )
    pii_pepper: SecretStr = Field(
        default=SecretStr(DEV_PII_PEPPER),
        description=(
            "Keys the hashes of what may hold personal data: every service's stored "
            "`Idempotency-Key`s, and on the volunteer service the phone fingerprints and the "
            "hashes of invitation codes. Rotating it means re-fingerprinting the claims (open "
            "invitations stop working, and a retry with a key from before counts as new)."
        ),
    )
    idempotency_retention_hours: float = Field(
        default=24,
        gt=0,
        le=720,
        description="How long an `Idempotency-Key` is kept: a retry within it gets the first "
        "answer, a later one runs as new. MongoDB deletes expired keys itself (a TTL index); "
        "on FerretDB each service deletes them every hour.",
    )
    jwt_issuer: str = Field(default=DEFAULT_ISSUER, description="The `iss` every token must carry.")
    jwt_audience: str = Field(
        default=DEFAULT_AUDIENCE, description="The `aud` every token must carry."
    )
    jwt_jwks_file: str = Field(
        default="",
        description="A JWKS document of verification keys by `kid` (RS256, ES256 or HS256); "
        "re-read when a token names a key it lacks, so keys rotate without a restart.",
    )
    jwt_jwks_url: str = Field(
        default="",
        description="JWKS URL of an external identity provider (OIDC `jwks_uri`).",
    )
    jwt_jwks_cache_seconds: float = Field(
        default=300, gt=0, description="How long the identity provider's keys are cached."
    )
    jwt_jwks_min_refresh_seconds: float = Field(
        default=5,
        ge=0,
        description="An unknown `kid` re-fetches the JWKS at most this often (no hammering).",
    )
    jwt_leeway_seconds: float = Field(
        default=30, ge=0, description="Clock skew tolerated on `exp`, `nbf` and `iat`."
    )
    revocation_default_hours: float = Field(
        default=168,
        gt=0,
        description="How long a revocation is kept when the revoked token's expiry is not given.",
    )
    http_max_body_bytes: int = Field(
        default=262144, ge=1024, description="Larger request bodies are refused with 413."
    )
    relay_batch_size: int = Field(
        default=500, ge=1, description="Commits the outbox relay publishes per round."
    )
    relay_poll_seconds: float = Field(
        default=0.5,
        gt=0,
        description="Fallback poll of the outbox; every local append wakes the relay at once.",
    )
    consumer_batch_size: int = Field(
        default=500, ge=1, description="Most events a projection applies per batch."
    )
    consumer_wait_ms: int = Field(
        default=10,
        ge=1,
        le=1000,
        description="How long a consumer waits for records in one poll; after an empty poll it "
        "pauses as long, so this bounds the delay an idle consumer adds to a new event.",
    )
    rebuild_fold_documents: int = Field(
        default=250_000,
        ge=1,
        description="Most read-model documents a rebuild folds in memory before it writes "
        "them out and folds on (later parts merged into what earlier ones wrote): bounds the "
        "rebuild's memory whatever the length of the log.",
    )
    metrics_poll_seconds: float = Field(
        default=5.0,
        gt=0,
        description="How often the relay backlog and the consumer lag per partition are measured for `/metrics`.",
    )
    log_level: str = Field(default="INFO", description="Python log level.")
    log_json: bool = Field(default=True, description="JSON lines (true) or plain text logs.")
    trace_exporter: Literal["off", "console", "otlp", "file"] = Field(
        default="off",
        description="Where OpenTelemetry spans go: `off`, `console` (stdout), `otlp` (see `trace_otlp_endpoint`) or `file` (JSON lines, read by `muster trace`).",
    )
    trace_otlp_endpoint: str = Field(
        default="http://127.0.0.1:4318/v1/traces",
        description="OTLP/HTTP traces endpoint of a collector (with `trace_exporter=otlp`).",
    )
    trace_file: str = Field(
        default="",
        description="File the `file` exporter appends spans to; default `traces/<service>.jsonl`.",
    )
    trace_sample_ratio: float = Field(
        default=1.0,
        ge=0,
        le=1,
        description="Share of new traces recorded; a trace started upstream keeps its caller's decision.",
    )

    def secret_problems(self) -> list[str]:
        """What makes the secrets unfit outside development mode (empty: none)."""
        problems = []
        secret = self.jwt_secret.get_secret_value()
        # Empty with an identity provider's keys: only those verify tokens.
        if published_or_missing(secret) and not (
            not secret and (self.jwt_jwks_url or self.jwt_jwks_file)
        ):
            problems.append(
                "MUSTER_JWT_SECRET is missing or a published default: set a random secret "
                "(e.g. `openssl rand -base64 48`), or leave it empty with MUSTER_JWT_JWKS_URL "
                "set / MUSTER_JWT_SECRET 缺失或为公开的默认值：请设置随机密钥，"
                "或在设置 MUSTER_JWT_JWKS_URL 时留空"
            )
        if published_or_missing(self.pii_pepper.get_secret_value()):
            problems.append(
                "MUSTER_PII_PEPPER is missing or a published default: set a random secret "
                "and keep it stable / MUSTER_PII_PEPPER 缺失或为公开的默认值：请设置随机值并保持不变"
            )
        return problems

    def refuse_insecure_secrets(self) -> None:
        """Stop the process with the reasons, unless in development mode."""
        problems = [] if self.dev_mode else self.secret_problems()
        if problems:
            raise InsecureSecretsError(
                f"{self.service_name}: refusing to start (MUSTER_DEV_MODE=1 allows the "
                "development defaults):\n" + "\n".join(f"  - {p}" for p in problems)
            )

    @property
    def kafka_brokers(self) -> list[str]:
        """The bootstrap servers one by one: FastStream takes a string as one address."""
        return [b.strip() for b in self.kafka_bootstrap.split(",") if b.strip()]

    @property
    def database_name(self) -> str:
        return self.mongo_db or f"muster_{self.service_name}"
