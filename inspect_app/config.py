"""Settings from environment variables (prefix INSPECT_) and an optional .env file."""

from __future__ import annotations

import ipaddress
import secrets
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_TIMEZONE = "Asia/Shanghai"
PLACEHOLDER_KEYS = {"", "changeme", "change-me", "secret", "dev", "development"}

# Four-colour rule: each level is the first that matches, top to bottom.
DEFAULT_RISK_RULE = (
    "red: open_major >= 1; orange: open_general >= 1 and overdue >= 1; "
    "yellow: open_general >= 1; blue: otherwise"
)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="INSPECT_", env_file=".env", extra="ignore")

    env: Literal["development", "production", "test"] = "development"
    database_url: str = "sqlite:///inspect.db"
    upload_dir: Path = Path("uploads")
    # Photos and stored reports: a folder (default: upload_dir) or s3://BUCKET/PREFIX, with the
    # endpoint of any S3-compatible store; credentials come from the standard AWS_* variables.
    storage_url: str = ""
    s3_endpoint_url: str = ""
    secret_key: str = Field(default="")
    timezone: str = DEFAULT_TIMEZONE
    default_locale: Literal["zh_CN", "en"] = "zh_CN"

    # Sessions and sign-in
    session_days: int = 14
    token_days: int = 30
    # Failed sign-ins within the window: a user from one address, then that address refused for
    # the user; an address over all usernames; a user from all addresses, past which every try
    # waits a growing delay (doubling up to login_max_delay_seconds), never a hard lock.
    login_max_failures_per_user_address: int = 5
    login_max_failures_per_address: int = 20
    login_user_ceiling: int = 50
    login_max_delay_seconds: int = 300
    login_window_minutes: int = 15
    # Addresses or CIDRs (comma-separated) whose X-Forwarded-For/-Proto/-Host are believed.
    trusted_proxies: str = ""

    # Photos
    max_upload_bytes: int = 20 * 1024 * 1024
    max_image_pixels: int = 60_000_000
    photo_web_size: int = 1600
    photo_thumb_size: int = 400
    keep_originals: bool = True
    # Pixel memory all decodes of one process may hold at once (0: no budget), and how long an
    # upload waits for its share before a 503 with Retry-After.
    decode_budget_mb: int = 512
    decode_wait_seconds: float = 15.0

    # Browser assets: "local" serves the pinned copies in static/vendor; "cdn" loads the same
    # pinned versions from a public CDN.
    assets: Literal["local", "cdn"] = "local"

    # Map: no tile layer by default (the district polygons are the base map, works offline).
    tile_url: str = ""
    tile_attribution: str = ""
    tile_crs: Literal["wgs84", "gcj02"] = "wgs84"

    # Hazard loop
    acceptor_must_differ: bool = False
    risk_rule: str = DEFAULT_RISK_RULE

    # Routine (due dates of sites, escalation by `inspect-app notify`)
    due_soon_days: int = Field(default=7, ge=0, le=365)
    escalate_days: int = Field(default=7, ge=1, le=365)
    smtp_url: str = ""  # smtp://user:password@host:587 (STARTTLS when offered) or smtps://...:465
    mail_from: str = ""
    webhook_url: str = ""  # WeCom / DingTalk group robot

    @field_validator("timezone")
    @classmethod
    def _check_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"INSPECT_TIMEZONE: unknown time zone {value!r}") from None
        return value

    @model_validator(mode="after")
    def _check_secret(self) -> Settings:
        if self.secret_key.strip().lower() in PLACEHOLDER_KEYS or len(self.secret_key) < 16:
            if self.env == "production" or self.shared_storage:
                raise ValueError(
                    "INSPECT_SECRET_KEY is missing or a placeholder (it is required in production "
                    "and with s3:// storage, where several servers must share it); set a random key of at "
                    "least 16 characters (e.g. `python -c 'import secrets;print(secrets.token_urlsafe(32))'`)"
                )
            self.secret_key = _dev_secret(self.upload_dir)
        try:
            self.trusted_proxy_networks
        except ValueError as exc:
            raise ValueError(f"INSPECT_TRUSTED_PROXIES: {exc}") from exc
        return self

    @property
    def trusted_proxy_networks(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        items = self.trusted_proxies.replace(",", " ").split()
        return tuple(ipaddress.ip_network(item, strict=False) for item in items)

    @property
    def zone(self) -> ZoneInfo:
        """The city's calendar: deadlines, overdue and ISO weeks are local days in this zone."""
        return ZoneInfo(self.timezone)

    @property
    def shared_storage(self) -> bool:
        """Object storage means several servers: they must share one key, so none is invented."""
        return self.storage_url.startswith("s3://")

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def _dev_secret(upload_dir: Path) -> str:
    """A development key that survives restarts (so sessions do too), kept beside the uploads."""
    path = Path(upload_dir) / ".dev-secret-key"
    try:
        if path.exists():
            return path.read_text().strip()
        path.parent.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(32)
        path.write_text(key)
        return key
    except OSError:
        return secrets.token_urlsafe(32)


def get_settings() -> Settings:
    """Read the environment. Called only at the edges (app factory, CLI, Alembic's env.py),
    which pass the result down; never cached, so a changed environment is seen by the next
    command rather than hidden behind the first one's values."""
    return Settings()
