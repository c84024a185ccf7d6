"""The one settings object. Every process reads the same ``DOCENRICH_*`` variables."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DOCENRICH_", extra="ignore")

    redis_url: str = Field(DEFAULT_REDIS_URL, description="Job store (and default broker).")
    broker_url: str | None = Field(None, description="Celery broker; defaults to redis_url. amqp:// works too.")

    max_upload_bytes: int = Field(10 * 1024 * 1024, gt=0)
    max_text_chars: int = Field(1_000_000, gt=0)
    max_batch_documents: int = Field(100, gt=0)
    max_queue_depth: int = Field(10_000, gt=0, description="Back-pressure: 503 when a queue is deeper.")
    rate_limit_per_minute: int = Field(0, ge=0, description="Per-tenant POST limit; 0 disables.")
    api_keys: str = Field("", description="key1:tenant1,key2:tenant2; empty = open (development).")
    api_workers: int = Field(1, ge=1, description="API processes sharing the port (docenrich api --workers).")
    result_ttl: int = Field(7 * 24 * 3600, gt=0, description="Seconds job records and texts are kept.")

    # Reliability knobs: time limits stay below the visibility timeout (after which the
    # sweeper sends a stalled task again) so a task is never sent again while still running.
    task_soft_time_limit: int = Field(240, gt=0)
    task_time_limit: int = Field(300, gt=0)
    visibility_timeout: int = Field(900, gt=0, description="The tasks of a dead worker are sent again after this (by the sweeper).")
    task_max_retries: int = Field(3, ge=0)
    worker_heartbeat_seconds: float = Field(5.0, gt=0)
    sweep_interval_seconds: float = Field(30.0, gt=0, description="How often one worker looks for stalled tasks.")
    stale_task_seconds: float | None = Field(
        None, gt=0, description="A task or webhook with no progress this long is sent again; default: the visibility timeout."
    )

    summary_backend: str = Field("extractive", description="extractive | openai")
    summary_openai_base_url: str | None = None
    summary_openai_model: str | None = None
    summary_openai_api_key: str | None = None
    summary_openai_timeout: float = 30.0

    log_level: str = "INFO"
    log_format: str = Field("json", description="json (one object per line) | text")

    # Webhooks: a POST to the job's callback_url when it ends, signed per tenant.
    webhook_secret: str = Field("", description="Fallback signing secret for tenants not in webhook_secrets.")
    webhook_secrets: str = Field("", description="tenant1:secret1,tenant2:secret2")
    webhook_allow_private: bool = Field(False, description="Allow callback URLs on private/loopback addresses.")
    webhook_timeout: float = Field(10.0, gt=0, description="Seconds per delivery attempt.")
    webhook_max_attempts: int = Field(6, ge=1, description="Delivery attempts before giving up.")
    webhook_backoff_seconds: float = Field(5.0, gt=0, description="First retry delay; doubles each attempt.")
    webhook_backoff_max: float = Field(600.0, gt=0, description="Longest retry delay (kept below the visibility timeout).")

    # Server-sent events: a stream ends after this long even if the job has not (clients reconnect).
    events_max_seconds: float = Field(3600.0, gt=0)
    events_keepalive_seconds: float = Field(15.0, gt=0)

    @field_validator("summary_backend")
    @classmethod
    def _known_backend(cls, value: str) -> str:
        if value not in {"extractive", "openai"}:
            raise ValueError("DOCENRICH_SUMMARY_BACKEND must be 'extractive' or 'openai'")
        return value

    @field_validator("webhook_secrets")
    @classmethod
    def _webhook_secrets_parse(cls, value: str) -> str:
        # A malformed entry is a startup error, not an unsigned webhook later.
        for entry in filter(None, (part.strip() for part in value.split(","))):
            tenant, sep, secret = entry.partition(":")
            if not sep or not tenant or not secret:
                raise ValueError("DOCENRICH_WEBHOOK_SECRETS must look like 'tenant1:secret1,tenant2:secret2'")
        return value

    @model_validator(mode="after")
    def _limits_below_visibility(self) -> "Settings":
        # A task with no progress for the visibility timeout is sent again to another
        # worker (the sweeper): the hard limit must end a running one first.
        if not self.task_soft_time_limit < self.task_time_limit < self.visibility_timeout:
            raise ValueError(
                "need DOCENRICH_TASK_SOFT_TIME_LIMIT < DOCENRICH_TASK_TIME_LIMIT < DOCENRICH_VISIBILITY_TIMEOUT"
            )
        return self

    @property
    def webhook_secrets_by_tenant(self) -> dict[str, str]:
        """Parse ``tenant:secret`` pairs (a secret may itself contain ':')."""
        pairs: dict[str, str] = {}
        for entry in filter(None, (part.strip() for part in self.webhook_secrets.split(","))):
            tenant, sep, secret = entry.partition(":")
            if not sep or not tenant or not secret:
                raise ValueError("DOCENRICH_WEBHOOK_SECRETS must look like 'tenant1:secret1,tenant2:secret2'")
            pairs[tenant] = secret
        return pairs

    def webhook_secret_for(self, tenant: str) -> str:
        return self.webhook_secrets_by_tenant.get(tenant) or self.webhook_secret

    @property
    def stale_after(self) -> float:
        return self.stale_task_seconds or self.visibility_timeout

    @property
    def effective_broker_url(self) -> str:
        return self.broker_url or self.redis_url

    @property
    def tenants_by_key(self) -> dict[str, str]:
        """Parse ``key:tenant`` pairs. A malformed entry is a startup error, not a silent open door."""
        pairs: dict[str, str] = {}
        for entry in filter(None, (part.strip() for part in self.api_keys.split(","))):
            key, sep, tenant = entry.partition(":")
            if not sep or not key or not tenant:
                raise ValueError(
                    "DOCENRICH_API_KEYS must look like 'key1:tenant1,key2:tenant2' "
                    f"(bad entry ending in ...{entry[-3:]!r})"
                )
            pairs[key] = tenant
        return pairs


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
