"""Settings read from the environment (prefix HOCSO_), validated once at start-up."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# The development key is public (it is in this file); production refuses it.
DEV_SECRET_KEY = "dev-insecure-secret-key-change-me"

PROJECT_ROOT = Path(__file__).resolve().parent.parent.parent


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HOCSO_", env_file=None, extra="ignore")

    env: Literal["dev", "test", "production"] = "dev"
    database_url: str = ""
    data_dir: Path = Path("./var")
    storage: Literal["local", "s3"] = "local"
    s3_bucket: str = "hocso"
    s3_endpoint_url: str | None = None
    s3_region: str = "us-east-1"
    # The S3 address browsers use for presigned links, when it differs from the one the app
    # uses (docker compose: the app talks to http://minio:9000, browsers to localhost:9000).
    s3_public_endpoint_url: str | None = None
    secret_key: str = DEV_SECRET_KEY
    max_upload_mb: int = Field(default=2048, ge=1)
    # Remove leftovers of interrupted uploads (temp files, unrecorded blobs) at start-up.
    gc_on_startup: bool = True
    default_locale: Literal["vi", "en"] = "vi"
    timezone: str = "Asia/Ho_Chi_Minh"
    secure_cookies: bool = False
    # Proxies whose X-Forwarded-For / -Proto headers are trusted (uvicorn --forwarded-allow-ips).
    forwarded_allow_ips: str = "127.0.0.1"
    # API bearer tokens and page sessions.
    token_ttl_minutes: int = Field(default=60 * 12, ge=1)
    session_ttl_hours: int = Field(default=24 * 14, ge=1)
    activation_ttl_days: int = Field(default=30, ge=1)
    # Failed sign-ins: at most N per account / per client address inside the window.
    login_max_failures_per_account: int = Field(default=5, ge=1)
    login_max_failures_per_ip: int = Field(default=30, ge=1)
    login_window_seconds: int = Field(default=15 * 60, ge=1)
    # Password hashing cost (argon2id). The defaults are the OWASP minimum.
    argon2_time_cost: int = Field(default=2, ge=1)
    argon2_memory_kib: int = Field(default=19 * 1024, ge=8)
    argon2_parallelism: int = Field(default=1, ge=1)
    # At most this many password hashes (sign-in, activation, password changes) run at once in
    # a process: each takes argon2_memory_kib and a core. The others wait up to
    # password_hash_wait_seconds, then get 503 with Retry-After.
    password_hash_concurrency: int = Field(default=2, ge=1)
    password_hash_wait_seconds: float = Field(default=3.0, ge=0)
    # Load shedding: at most this many HTTP requests in progress per process (until their
    # response starts); beyond it, 503 with Retry-After at once instead of a queue that grows
    # until clients time out. /healthz and /static are exempt; 0 turns the cap off.
    max_inflight: int = Field(default=64, ge=0)

    @model_validator(mode="after")
    def _derive_and_check(self) -> Settings:
        if not self.database_url:
            self.database_url = f"sqlite:///{(self.data_dir / 'hocso.db').as_posix()}"
        if self.env == "production" and (
            self.secret_key == DEV_SECRET_KEY or len(self.secret_key) < 32
        ):
            raise ValueError(
                "HOCSO_SECRET_KEY must be set to a random value of at least 32 characters "
                "in production"
            )
        return self

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def max_upload_bytes(self) -> int:
        return self.max_upload_mb * 1024 * 1024


@lru_cache
def get_settings() -> Settings:
    return Settings()
