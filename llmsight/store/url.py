"""Parse the one storage URL that picks embedded chDB or a ClickHouse server.

``chdb://PATH`` is the embedded engine (a relative PATH is resolved against the
working directory, because chDB and clickhouse-connect need an absolute one);
``http(s)://user:pass@host:port/database`` is a server. A ``?database=`` query
parameter picks the database for either kind.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlsplit

DEFAULT_DATABASE = "otel"


class StoreURLError(ValueError):
    """The storage URL cannot be understood; the message says how to write it."""


@dataclass(frozen=True)
class StoreURL:
    kind: str  # "chdb" or "http"
    database: str
    path: str = ""  # chdb: absolute directory
    host: str = ""
    port: int = 0
    secure: bool = False
    username: str = "default"
    password: str = ""

    @property
    def embedded(self) -> bool:
        return self.kind == "chdb"

    def display(self) -> str:
        """The URL without its password, for logs and status output."""
        if self.embedded:
            return f"chdb://{self.path} (database {self.database})"
        scheme = "https" if self.secure else "http"
        return f"{scheme}://{self.username}@{self.host}:{self.port}/{self.database}"


def parse_store_url(url: str) -> StoreURL:
    """Turn a storage URL into its parts, resolving a relative chDB path."""
    if "://" not in url:
        raise StoreURLError(
            f"storage URL {url!r} has no scheme: use chdb://PATH for the embedded store "
            "or http(s)://user:pass@host:8123/database for a ClickHouse server"
        )
    scheme, rest = url.split("://", 1)
    scheme = scheme.lower()
    if scheme == "chdb":
        path_part, _, query = rest.partition("?")
        if not path_part:
            raise StoreURLError("chdb:// needs a directory, e.g. chdb://./.llmsight/clickhouse")
        database = parse_qs(query).get("database", [DEFAULT_DATABASE])[0]
        return StoreURL(kind="chdb", path=os.path.abspath(os.path.expanduser(path_part)), database=database)
    if scheme in ("http", "https"):
        parts = urlsplit(url)
        if not parts.hostname:
            raise StoreURLError(f"storage URL {url!r} has no host")
        path_db = parts.path.strip("/")
        database = parse_qs(parts.query).get("database", [path_db or DEFAULT_DATABASE])[0]
        secure = scheme == "https"
        return StoreURL(
            kind="http",
            database=database,
            host=parts.hostname,
            port=parts.port or (8443 if secure else 8123),
            secure=secure,
            username=unquote(parts.username) if parts.username else "default",
            password=unquote(parts.password) if parts.password else "",
        )
    raise StoreURLError(f"unknown storage scheme {scheme!r}: use chdb:// or http(s)://")
