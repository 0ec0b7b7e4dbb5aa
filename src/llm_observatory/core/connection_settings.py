"""Where the database and Redis are, and as whom each service connects.

Compose passes the parts: DB_HOST, DB_PORT, DB_NAME and the user and password of the
service's role (the owner DB_USER, the application role DB_APP_USER, the read-only role
DB_READONLY_USER); REDIS_HOST, REDIS_PORT, REDIS_PASSWORD. Each settings class
assembles its URL from them, once, here. A whole URL (DATABASE_URL, REDIS_URL, or their
*_FILE) wins over the parts, for what the parts cannot say: sslmode, other options, a
managed database's host list.
"""

from __future__ import annotations

from urllib.parse import quote, unquote, urlsplit

from pydantic import AliasChoices, Field, model_validator
from pydantic_settings import SettingsConfigDict

from llm_observatory.core.secret_files import SecretFileSettings
from llm_observatory.core.settings_base import DEVELOPMENT_SECRETS, CommonSettings, which_secret

# libpq tries a replica first and takes the primary while no standby answers.
READ_REPLICA_OPTIONS = "target_session_attrs=prefer-standby&connect_timeout=3"


def _host(host: str, port: int) -> str:
    host = host.strip()
    if ":" in host and not host.startswith("["):  # an IPv6 address
        host = f"[{host}]"
    return f"{host}:{port}"


def _credentials(user: str, password: str) -> str:
    # Quoted: a password with @, : or / would otherwise end the user part early.
    secret = f":{quote(password, safe='')}" if password else ""
    return f"{quote(user, safe='')}{secret}@" if user or password else ""


def postgres_url(
    user: str, password: str, hosts: list[str], port: int, name: str, options: str = ""
) -> str:
    """postgresql://user:password@host:port[,host:port...]/name[?options]."""
    where = ",".join(_host(host, port) for host in hosts)
    query = f"?{options}" if options else ""
    return f"postgresql://{_credentials(user, password)}{where}/{quote(name, safe='')}{query}"


def redis_url(password: str, host: str, port: int) -> str:
    """redis://:password@host:port/0."""
    return f"redis://{_credentials('', password)}{_host(host, port)}/0"


class AppRoleName(SecretFileSettings):
    """The application role: storage writes as it; migrations grant to it."""

    model_config = SettingsConfigDict(extra="ignore", case_sensitive=False)

    db_app_user: str = "llm_observatory_app"


class ReadonlyRoleName(SecretFileSettings):
    """The read-only role: the API and Grafana read as it; migrations grant to it."""

    model_config = SettingsConfigDict(extra="ignore", case_sensitive=False)

    db_readonly_user: str = "llm_observatory_readonly"


class DatabaseRoles(AppRoleName, ReadonlyRoleName):
    """The role names the migrations grant to (storage/roles.py)."""


class DatabaseSettings(CommonSettings):
    """A database connection: the parts, or DATABASE_URL. Subclasses name the role."""

    # Tests and tools pass database_url=...; the environment may name it otherwise.
    model_config = SettingsConfigDict(extra="ignore", case_sensitive=False, populate_by_name=True)

    db_host: str = "localhost"
    db_port: int = Field(5432, ge=1, le=65535)
    db_name: str = "llm_observatory"
    # Empty: assembled from the parts above and the role's user and password.
    database_url: str = Field("", repr=False)

    def database_login(self) -> tuple[str, str]:
        raise NotImplementedError

    def database_hosts(self) -> list[str]:
        return [self.db_host]

    def database_options(self) -> str:
        return ""

    @model_validator(mode="after")
    def _assemble_database_url(self) -> DatabaseSettings:
        if not self.database_url.strip():
            user, password = self.database_login()
            self.database_url = postgres_url(
                user,
                password,
                self.database_hosts(),
                self.db_port,
                self.db_name,
                self.database_options(),
            )
        return self

    def insecure_defaults(self) -> list[str]:
        found = super().insecure_defaults()
        password = unquote(urlsplit(self.database_url).password or "")
        if password in DEVELOPMENT_SECRETS.values():
            found.append(which_secret(password))
        return found


class OwnerDatabase(DatabaseSettings):
    """The owner (migrations, retention, reset, restore): DB_USER / DB_PASSWORD."""

    db_user: str = "postgres"
    db_password: str = Field(DEVELOPMENT_SECRETS["DB_PASSWORD"], repr=False)

    def database_login(self) -> tuple[str, str]:
        return self.db_user, self.db_password


class AppDatabase(AppRoleName, DatabaseSettings):
    """The application role: DB_APP_USER / DB_APP_PASSWORD."""

    db_app_password: str = Field(DEVELOPMENT_SECRETS["DB_APP_PASSWORD"], repr=False)
    # Compose passes the role's whole URL under the plan's name for it, DATABASE_APP_URL.
    database_url: str = Field(
        "", repr=False, validation_alias=AliasChoices("database_url", "database_app_url")
    )

    def database_login(self) -> tuple[str, str]:
        return self.db_app_user, self.db_app_password


class ReadonlyDatabase(ReadonlyRoleName, DatabaseSettings):
    """The read-only role: DB_READONLY_USER / DB_READONLY_PASSWORD."""

    db_readonly_password: str = Field(DEVELOPMENT_SECRETS["DB_READONLY_PASSWORD"], repr=False)
    # Compose passes the role's whole URL as DATABASE_READONLY_URL.
    database_url: str = Field(
        "", repr=False, validation_alias=AliasChoices("database_url", "database_readonly_url")
    )
    # A read replica (timescaledb-replica): reads go there first and to DB_HOST while no
    # standby answers. Grafana reads the same variable (one host, no fallback).
    db_readonly_host: str = ""

    def database_login(self) -> tuple[str, str]:
        return self.db_readonly_user, self.db_readonly_password

    def database_hosts(self) -> list[str]:
        if self.db_readonly_host.strip():
            return [self.db_readonly_host, self.db_host]
        return [self.db_host]

    def database_options(self) -> str:
        return READ_REPLICA_OPTIONS if self.db_readonly_host.strip() else ""


class RedisSettings(CommonSettings):
    """Redis: REDIS_HOST, REDIS_PORT, REDIS_PASSWORD, or a whole REDIS_URL."""

    redis_host: str = "localhost"
    redis_port: int = Field(6379, ge=1, le=65535)
    redis_password: str = Field(DEVELOPMENT_SECRETS["REDIS_PASSWORD"], repr=False)
    # Empty: assembled from the parts above.
    redis_url: str = Field("", repr=False)

    @model_validator(mode="after")
    def _assemble_redis_url(self) -> RedisSettings:
        if not self.redis_url.strip():
            self.redis_url = redis_url(self.redis_password, self.redis_host, self.redis_port)
        return self

    def _insecure_redis(self) -> list[str]:
        redis_password = unquote(urlsplit(self.redis_url).password or "")
        return ["REDIS_PASSWORD"] if redis_password == DEVELOPMENT_SECRETS["REDIS_PASSWORD"] else []
