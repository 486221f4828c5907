"""The thin peer that ``bench_accept.py`` measures the gateway against (issue 12).

One spyne operation, ``SendDocument``, speaking the gateway's namespace so the same client
requests reach both: it decodes the package, parses it with lxml, writes it to one file that
is fsync'd (with its directory) and one SQLite row (WAL, ``synchronous=FULL``), then answers
with a package id. No authentication, no validation, no signing, no routing: a floor for what
a durable SOAP intake costs on this machine, not a competitor.

Served by gunicorn: ``THIN_PEER_DIR=/tmp/peer gunicorn --chdir benchmarks thin_peer:application``.
"""

from __future__ import annotations

import base64
import contextlib
import os
import sqlite3
import threading
import uuid
from pathlib import Path
from typing import Any

from lxml import etree
from spyne import Application, ServiceBase, Unicode, rpc
from spyne.protocol.soap import Soap11
from spyne.server.wsgi import WsgiApplication

NAMESPACE = "urn:edoc-gateway:soap:v1"
_local = threading.local()


def _directory() -> Path:
    return Path(os.environ.get("THIN_PEER_DIR", "/tmp/thin-peer"))


def prepare(directory: Path) -> None:
    """Create the database (WAL, the table) before the workers start: two workers switching
    a new file to WAL at once can get "database is locked" without waiting."""
    directory.mkdir(parents=True, exist_ok=True)
    with contextlib.closing(sqlite3.connect(directory / "peer.sqlite")) as connection:
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute(
            "CREATE TABLE IF NOT EXISTS packages (id TEXT PRIMARY KEY, document_id TEXT, "
            "size INTEGER, path TEXT)"
        )
        connection.commit()


def _database() -> sqlite3.Connection:
    connection: sqlite3.Connection | None = getattr(_local, "db", None)
    if connection is None:
        path = _directory() / "peer.sqlite"
        connection = sqlite3.connect(path, isolation_level=None, timeout=30.0)
        connection.execute("PRAGMA synchronous=FULL")
        _local.db = connection
    return connection


def _keep(package: bytes) -> str:
    tree = etree.fromstring(package, etree.XMLParser(resolve_entities=False, no_network=True))
    document_id = tree.findtext(".//{*}DocumentId") or ""
    package_id = str(uuid.uuid4())
    folder = _directory() / "blobs"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / package_id
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, package)
        os.fsync(fd)
    finally:
        os.close(fd)
    directory = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
    db = _database()
    db.execute("BEGIN IMMEDIATE")
    db.execute(
        "INSERT INTO packages (id, document_id, size, path) VALUES (?, ?, ?, ?)",
        (package_id, document_id, len(package), str(path)),
    )
    db.execute("COMMIT")
    return package_id


class Peer(ServiceBase):
    @rpc(Unicode, _returns=Unicode, _out_variable_name="packageId")
    def SendDocument(ctx: Any, package: str) -> str:
        return _keep(base64.b64decode(package))


application = WsgiApplication(
    Application(
        [Peer],
        tns=NAMESPACE,
        in_protocol=Soap11(validator="lxml"),
        out_protocol=Soap11(),
    )
)
