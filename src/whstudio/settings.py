"""Configuration from the environment, an optional `.env` file and command-line flags."""

from __future__ import annotations

import os
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Literal

import platformdirs
from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]


def _default_home() -> Path:
    return Path(platformdirs.user_data_dir("whstudio", appauthor=False))


class Settings(BaseSettings):
    """Every setting of the service; each field documents itself in `whstudio config`."""

    model_config = SettingsConfigDict(
        env_prefix="WHSTUDIO_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        populate_by_name=True,
    )

    database_url: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("DATABASE_URL", "WHSTUDIO_DATABASE_URL"),
        description="PostgreSQL 15+ URL. Unset: an embedded PostgreSQL in WHSTUDIO_HOME. It may "
        "go through a transaction-mode pooler (PgBouncer) when WHSTUDIO_DIRECT_DATABASE_URL is "
        "set too.",
    )
    read_database_url: SecretStr | None = Field(
        default=None,
        description="A read replica of the database (streaming replication), for the heavy "
        "reads of staff: exports, analytics, agreement metrics and rankings. They may lag the "
        "primary by the replica's delay; everything an annotator reads (their task, their "
        "answers, consensus after answering) and every write go to the primary.",
    )
    direct_database_url: SecretStr | None = Field(
        default=None,
        description="A URL straight to PostgreSQL, for what a transaction-mode pooler cannot "
        "carry: the live-update listener (LISTEN), migrations and their lock, and every command "
        "of the CLI (batch jobs, the legacy migration). When set, the web app's request pool "
        "uses DATABASE_URL (the pooler's) without server-side prepared statements.",
    )
    home: Path = Field(
        default_factory=_default_home,
        description="Data folder: embedded database, generated secret key.",
    )
    secret_key: SecretStr | None = Field(
        default=None,
        description="Signs session cookies, CSRF tokens and list cursors, and keys the A/B order "
        "each annotator sees. Generated and kept in WHSTUDIO_HOME when not given; every app "
        "process of one deployment needs the same.",
    )
    host: str = Field(default="127.0.0.1", description="Address the web server binds.")
    port: int = Field(default=8000, ge=0, le=65535, description="Port the web server binds.")
    workers: int = Field(
        default=1,
        ge=1,
        le=64,
        description="Web server processes; each has its own pool. Try one per core.",
    )
    log_level: LogLevel = Field(default="INFO", description="Lowest level of log lines written.")
    pool_min_size: int = Field(default=2, ge=1, description="Connections the pool keeps open.")
    pool_max_size: int = Field(default=10, ge=1, description="Most connections the pool opens.")
    submit_group_max: int = Field(
        default=32,
        ge=1,
        le=64,
        description="Most answers one app process stores in one transaction (group commit): "
        "answers that arrive while a group is being stored wait for the next group, and every "
        "request is answered after its group commits. 1 stores each answer alone.",
    )
    submit_groups_in_flight: int = Field(
        default=2,
        ge=1,
        le=16,
        description="Groups of answers one app process stores at once (group commit): while "
        "one group's commit waits for its WAL flush, the next one runs.",
    )
    fastapi_telemetry: bool = Field(
        default=False,
        description="FastAPI's own OpenTelemetry instrumentation (FastAPI 0.165 and later): "
        "off, the app reports through /metrics and its logs; on, FastAPI traces each request "
        "to the global OpenTelemetry providers, which cost a look at the environment per "
        "request even when none is configured.",
    )
    pool_timeout: float = Field(
        default=5.0,
        gt=0,
        le=120,
        description="Seconds a request waits for a database connection before answering 503.",
    )
    header_timeout: float = Field(
        default=10.0,
        gt=0,
        le=300,
        description="Seconds a client has to send a whole request head (request line and "
        "headers), from when it connects or from the end of the answer to its previous "
        "request; past that the connection is closed, with a 408 if part of a head came.",
    )
    body_timeout: float = Field(
        default=30.0,
        gt=0,
        le=3600,
        description="Seconds the app waits for the next part of a request body before it "
        "answers 408 and closes the connection.",
    )
    body_min_rate: int = Field(
        default=1024,
        ge=0,
        description="Least average speed of a request body, in bytes per second (0: none): "
        "all the waits for one body together may last WHSTUDIO_BODY_TIMEOUT seconds plus one "
        "second per this many bytes received; past that the app answers 408 and closes the "
        "connection.",
    )
    session_max_age: int = Field(
        default=14 * 24 * 3600, ge=60, description="Seconds a web sign-in stays valid."
    )
    cookie_secure: bool = Field(
        default=False,
        description="Send the session cookie over HTTPS only, even to requests that arrive as "
        "plain HTTP (a request that arrives over HTTPS, or through a TLS proxy that says so, "
        "always gets HTTPS-only cookies).",
    )
    max_body_bytes: int = Field(
        default=2 * 1024 * 1024,
        ge=64 * 1024,
        le=1024 * 1024 * 1024,
        description="Largest request body, in bytes, except uploads to the import routes: a "
        "larger one is refused with 413 before any handler reads it.",
    )
    import_max_bytes: int = Field(
        default=64 * 1024 * 1024,
        ge=1024 * 1024,
        le=16 * 1024 * 1024 * 1024,
        description="Largest file uploaded to the import routes (items, answers), in bytes; "
        "larger files go through the CLI, which has no limit.",
    )
    bootstrap_max_rounds: int = Field(
        default=2000,
        ge=10,
        le=100_000,
        description="Most bootstrap rounds one rankings request may ask for (each round refits "
        "the model; 2,000 take about a second of a core at MT-Bench's size).",
    )
    login_free_failures: int = Field(
        default=5,
        ge=1,
        description="Failed sign-ins for one name before each next try waits (counted apart "
        "for a browser that signed in to that account before: others' failures never hold it).",
    )
    login_rate_per_ip: float = Field(
        default=10,
        ge=0,
        description="Password checks per minute from one client address (0: no limit), not "
        "counting browsers that signed in to that account before.",
    )
    login_rate: float = Field(
        default=2,
        ge=0,
        description="Password checks per second from all addresses together, per app process, "
        "five times that at once (0: no limit): each costs about 0.1 s of a core, so a flood of "
        "sign-ins from many addresses takes at most a fifth of a core at the default. Browsers "
        "that signed in to that account before are not counted.",
    )
    rate_per_ip: float = Field(
        default=100,
        ge=0,
        description="Requests per second from one client address, per app process (0: no "
        "limit); health checks and static files are not counted.",
    )
    rate_per_ip_burst: int = Field(
        default=300, ge=1, description="Requests one client address may make at once."
    )
    rate_per_user: float = Field(
        default=20,
        ge=0,
        description="Requests per second from one signed-in account, per app process (0: no "
        "limit).",
    )
    rate_per_user_burst: int = Field(
        default=60, ge=1, description="Requests one signed-in account may make at once."
    )
    user_concurrency: int = Field(
        default=4,
        ge=0,
        description="Requests of one signed-in account holding a database connection at the "
        "same time, per app process (0: no limit); one more is answered 429 at once, so one "
        "account never takes the connections others need.",
    )

    lease_seconds: int = Field(
        default=120,
        ge=5,
        le=3600,
        description="Seconds a task handed out by `next` stays reserved for that annotator.",
    )
    lease_max_seconds: int = Field(
        default=1800,
        ge=5,
        le=86400,
        description="Seconds a task stays reserved for one annotator however often they ask for "
        "it again; then it goes to others first.",
    )
    leases_per_user: int = Field(
        default=2,
        ge=1,
        le=100,
        description="Tasks reserved for one annotator at once (across datasets): handing out "
        "another ends the oldest reservation.",
    )
    analysis_threads: int = Field(
        default=1,
        ge=1,
        le=32,
        description="Threads per app process for CPU-heavy analysis (the rankings' bootstrap, "
        "the agreement metrics): requests for it queue behind these instead of taking the "
        "threads exports and other requests need.",
    )
    stream_recheck_seconds: float = Field(
        default=5,
        gt=0,
        le=60,
        description="Seconds between the checks an open event stream makes of its caller's "
        "session or token: a stream whose caller signed out, was deactivated or changed role "
        "closes at the next check.",
    )
    token_cache_seconds: float = Field(
        default=10,
        ge=0,
        le=300,
        description="Seconds an app process keeps a checked API token in memory (0: check every "
        "request). A revoked token, a deactivated user or a role change is forgotten at once "
        "(PostgreSQL notifies every process); the cache is bypassed while that notification "
        "channel is down.",
    )
    analytics_max_age: float = Field(
        default=60,
        ge=0,
        le=3600,
        description="Seconds an app process serves admin analytics figures that took a "
        "quarter of a second or more to compute before computing them again, in the "
        "background, while it serves them as they are with their age (0: compute on every "
        "request; quicker figures are always computed on request).",
    )
    gold_rate: float = Field(
        default=0.1,
        ge=0,
        le=1,
        description="Share of `next` answers that are gold-check tasks, when any are left.",
    )
    webhook_worker: bool = Field(
        default=True,
        description="Deliver webhooks from each app process (off: run `whstudio webhooks work`).",
    )
    webhook_max_attempts: int = Field(
        default=8, ge=1, le=50, description="Attempts per webhook delivery before it gives up."
    )
    webhook_backoff_seconds: float = Field(
        default=10.0,
        gt=0,
        le=3600,
        description="Wait after a webhook's first failed attempt; doubles after each (≤ 1 h).",
    )
    webhook_timeout: float = Field(
        default=10.0, gt=0, le=120, description="Seconds a webhook receiver has to answer."
    )
    webhook_allowed_hosts: str = Field(
        default="",
        description="Comma-separated host names, IP addresses and CIDR networks webhooks may "
        "reach although they are not public (e.g. `127.0.0.1,10.0.0.0/8,hooks.internal`). "
        "Webhooks go only to public addresses otherwise: a URL written with a loopback, "
        "private, link-local or other non-public address, or `localhost`, is refused when it "
        "is registered, and a delivery whose host resolves to any such address is not sent. "
        "A listed name may reach every address it resolves to. A malformed entry stops the app "
        "from starting.",
    )

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, v: object) -> object:
        return v.upper() if isinstance(v, str) else v

    def resolved_secret_key(self) -> str:
        """Return the secret key, creating and keeping one in the data folder if none is set."""
        if self.secret_key is not None and self.secret_key.get_secret_value():
            return self.secret_key.get_secret_value()
        path = self.home / "secret_key"
        if path.exists():
            return path.read_text().strip()
        self.home.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(48)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(key)
        return key

    def masked(self) -> dict[str, str]:
        """Return every setting as text, secrets masked, for display."""
        out: dict[str, str] = {}
        for name, field in type(self).model_fields.items():
            value = getattr(self, name)
            env = "DATABASE_URL" if name == "database_url" else f"WHSTUDIO_{name.upper()}"
            if name == "database_url":
                shown = mask_url(value.get_secret_value()) if value else "(embedded PostgreSQL)"
            elif isinstance(value, SecretStr):
                shown = "********" if value.get_secret_value() else "(empty)"
            elif value is None and name == "secret_key":
                shown = f"(generated, kept in {self.home / 'secret_key'})"
            else:
                shown = str(value)
            out[env] = shown
            del field
        return out


def mask_url(url: str) -> str:
    """Return a database URL with its password replaced by stars."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":****@", 1)
        parts = parts._replace(netloc=netloc)
    return urlunsplit(parts)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Return the process-wide settings, read once."""
    return Settings()
