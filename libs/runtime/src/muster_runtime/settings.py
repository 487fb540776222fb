"""Service settings from the environment (prefix `MUSTER_`), one object per process."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_JWT_SECRET = "muster-dev-secret-change-me-in-production-0123456789"


class ServiceSettings(BaseSettings):
    """What every Muster service needs to find its broker, its store and its callers."""

    model_config = SettingsConfigDict(env_prefix="MUSTER_", extra="ignore")

    service_name: str = "muster"
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    kafka_bootstrap: str = "127.0.0.1:9092"
    mongo_url: str = "mongodb://127.0.0.1:27017/"
    mongo_db: str = ""
    # Connections per process. A store that serialises writes per database (FerretDB on
    # SQLite) goes fastest with very few; MongoDB with the driver's default.
    mongo_max_pool: int = Field(default=100, ge=1)
    topic_prefix: str = "muster"
    topic_partitions: int = Field(default=6, ge=1)
    # 1 for a single development broker; 3 on a production cluster.
    topic_replication: int = Field(default=1, ge=1)
    jwt_secret: SecretStr = SecretStr(DEV_JWT_SECRET)
    jwt_issuer: str = "muster"
    relay_batch_size: int = Field(default=500, ge=1)
    # The relay is woken by every append; the poll only catches other writers' commits.
    relay_poll_seconds: float = Field(default=0.5, gt=0)
    consumer_batch_size: int = Field(default=500, ge=1)
    log_level: str = "INFO"
    log_json: bool = True

    @property
    def database_name(self) -> str:
        return self.mongo_db or f"muster_{self.service_name}"
