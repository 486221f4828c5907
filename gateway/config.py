"""Configuration: one TOML file plus ``GATEWAY_*`` environment overrides, checked on load.

This is the bottom layer: every setting type of the gateway (the ``[gateway]`` keys, the
``[[upstream]]``, ``[[route]]`` and ``[[trust_domain]]`` tables, ``[trust_senders]``) and the one
path that turns written values into them. Each value is converted by the type its field declares
(:func:`_convert`), ranges come from the field's metadata, and every mistake in a file is
collected with its line number, so ``edoc-gateway config check`` can list them all at once.
Nothing here imports another part of the gateway except :mod:`gateway.errors`; checks that
need the world (certificate files, the database, upstream endpoints) are in
:mod:`gateway.configcheck` and :mod:`gateway.trust`.

Defaults run the embedded setup (SQLite and blobs under ``./data``) with no file at all.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import dataclasses
import difflib
import enum
import os
import re
import tomllib
import types
import typing
import urllib.parse
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gateway.catalogue import LanguagePolicy
from gateway.errors import ConfigError, Finding

MiB = 1 << 20
KiB = 1 << 10


class Role(enum.StrEnum):
    """What this gateway is to its neighbours (GetServiceInfo reports it)."""

    AGENCY_GATEWAY = "agency-gateway"
    PROVINCIAL_AXIS = "provincial-axis"


class RevocationMode(enum.StrEnum):
    """How a signer certificate's revocation status is checked."""

    OFF = "off"
    SOFT_FAIL = "soft-fail"
    """An unreachable CRL or OCSP server leaves the status unknown (a warning)."""
    HARD_FAIL = "hard-fail"
    """An unreachable CRL or OCSP server makes the certificate untrusted."""


class BlobBackend(enum.StrEnum):
    """Where attachments and packages are kept (gateway.store.blobs, gateway.store.blobs_pg)."""

    FILE = "file"
    """Files under ``<data_dir>/blobs``: one node (or nodes sharing that directory)."""
    POSTGRES = "postgres"
    """Chunked rows in the PostgreSQL of ``database_dsn``: the database is all nodes share."""


class LogFormat(enum.StrEnum):
    """The shape of every log line of every process (``gateway.logs``)."""

    TEXT = "text"
    """A UTC timestamp, the level, the logger, the message, then ``key=value`` context."""
    JSON = "json"
    """One JSON object per line, for a log shipper."""


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class UpstreamProtocol(enum.StrEnum):
    """How an upstream is spoken to (one connector module per value in gateway/relay/connectors)."""

    VXP = "vxp"
    """The national axis REST API (the ``XroadVnpt-*`` headers)."""
    PEER = "peer"
    """A parent edoc-gateway's SOAP service."""


@dataclass(frozen=True, slots=True)
class Settings:
    """Every setting, with the value used when neither the file nor the environment sets it."""

    data_dir: Path = Path("data")
    """SQLite database, blob store and the master key live here (created if missing)."""
    database_dsn: str = ""
    """``postgresql://...`` to use PostgreSQL; empty means SQLite in ``data_dir``."""
    role: Role = Role.AGENCY_GATEWAY
    """``agency-gateway`` or ``provincial-axis`` (reported by GetServiceInfo)."""
    public_url: str = "http://127.0.0.1:8080"
    """Where clients reach the service; used in the exported WSDL's address."""
    host: str = "127.0.0.1"
    """Address ``serve`` listens on (``0.0.0.0`` for every interface)."""
    port: int = field(default=8080, metadata={"min": 1, "max": 65535})
    """TCP port ``serve`` listens on."""
    workers: int = field(default=2, metadata={"min": 1})
    """gunicorn worker processes (about one per core); each runs waitress, which reads and
    buffers a whole request before one of its ``server_threads`` sees it."""
    server_threads: int = field(default=8, metadata={"min": 1})
    """Threads per worker process that run requests. A slow client holds a connection while
    it trickles, never a thread: the request reaches a thread only once it is whole."""
    header_timeout_seconds: int = field(default=20, metadata={"min": 1})
    """A connection whose request line and headers are not complete this many seconds after
    the request began is closed (clients trickling their headers)."""
    body_min_rate_bytes: int = field(default=4096, metadata={"min": 0})
    """After its headers, a request body must arrive at least this fast (bytes per second,
    averaged since the headers ended, judged once ``header_timeout_seconds`` have passed) or
    the connection is closed; 0 switches the minimum off. At the default a 500 MiB body needs
    about 4 KiB/s, far below the slowest provincial link."""
    idle_timeout_seconds: int = field(default=30, metadata={"min": 1})
    """A kept-alive connection with no request in progress is closed after this long."""
    connection_limit: int = field(default=1000, metadata={"min": 1})
    """Open connections per worker process; past it new ones wait in the listen backlog."""
    max_in_flight: int = field(default=64, metadata={"min": 1})
    """Requests processed at once on this node, counted across its worker processes (one lock
    file per slot under ``<data_dir>/run/inflight``); one more is refused at once with
    ``Server.Busy``: a SOAP fault (HTTP 500, what SOAP clients parse), the legacy dialect's
    fault, HTTP 503 with ``Retry-After`` on the REST face and plain HTTP. WSDL and other GETs
    are not counted, nor the console, probes and metrics. The refusal is decided and answered
    by the worker's event loop, never queued for a thread. Each worker process also runs at
    most ``server_threads`` at once (a GET waits for a thread). Latency under overload is best
    with about one or two per core (BENCHMARKS.md); requests that wait on I/O (PostgreSQL,
    large bodies) justify more."""
    agency_rate_per_minute: int = field(default=0, metadata={"min": 0})
    """Requests one agency may make per minute (a token bucket in each worker process, so a
    node allows up to ``workers`` times this); past it ``Server.Busy``. 0: no limit."""
    agency_burst: int = field(default=120, metadata={"min": 1})
    """The token bucket's size: requests an agency may make at once before the rate applies."""
    busy_retry_after_seconds: int = field(default=2, metadata={"min": 1})
    """The ``Retry-After`` a busy refusal carries."""
    control_socket: str = ""
    """gunicorn's control socket (``gunicornc``): empty puts it at ``<data_dir>/gunicorn.ctl``,
    one per instance; ``off`` disables it; anything else is its path."""
    max_request_bytes: int = field(default=512 * MiB, metadata={"min": 1})
    """Larger request bodies are refused before a byte of them is read, on every face: a
    plain SOAP fault ``R.Request.Size`` on ``/soap/v1`` (HTTP 500 for SOAP 1.1, 400 for 1.2, the
    statuses every toolkit reads a fault from), the legacy dialect's fault, the REST face's FAIL
    envelope with HTTP 413; a chunked body as soon as it passes the limit."""
    stream_threshold_bytes: int = field(default=4 * MiB, metadata={"min": 0})
    """Requests larger than this are spooled to disk and their package decoded by streaming
    (only SendDocument and SendStatus may be this large); smaller ones are held in memory."""
    max_attachment_bytes: int = field(default=384 * MiB, metadata={"min": 1})
    """Largest attachment once decoded from base64 (or one MIME part): larger is refused with
    ``R.Attachment.Size`` and nothing is kept. 384 MiB is what 512 MiB of base64 carries."""
    max_decompressed_bytes: int = field(default=384 * MiB, metadata={"min": 1})
    """Largest file unwrapped from a single-entry zip (``R.Attachment.Decompressed``): a zip
    bomb of 3 MB inflates to gigabytes."""
    max_compression_ratio: int = field(default=200, metadata={"min": 1})
    """Largest unwrapped size over the zip's size (``R.Attachment.Ratio``), past the first MiB:
    documents compress 1-20 times, zip bombs a thousand times."""
    max_mime_parts: int = field(default=500, metadata={"min": 1})
    """Most MIME parts in one legacy SwA/MTOM request, counted as they arrive
    (``R.Mime.Parts``); each part costs a file, so thousands are refused before they are kept."""
    password_text_allowed: bool = False
    """Accept WS-Security PasswordText (only behind TLS); PasswordDigest is always accepted."""
    replay_window_seconds: int = field(default=300, metadata={"min": 30})
    """UsernameToken ``Created`` must be this close to now; nonces are remembered this long."""
    vxp_freshness_seconds: int = field(default=0, metadata={"min": 0})
    """On the REST face, a request's ``XroadVnpt-timestamp`` must be this close to now; 0: not
    checked (the default). The national axis's SDK fixes the timestamp when its client is
    built, so a long-lived SDK client sends old timestamps: turn this on only for clients that
    sign each call afresh."""
    vxp_reject_replays: bool = False
    """On the REST face, refuse a signature already seen within ``vxp_freshness_seconds``
    (which must then be set): a captured request cannot be played again. Needs clients that
    sign every call anew (an SDK client reusing one timestamp repeats its signature for the
    same call: its second identical call is refused)."""
    master_key_file: Path | None = None
    """File holding the key that derives agency secrets; default ``<data_dir>/master.key``
    (created on first start)."""
    master_key: str = field(default="", repr=False)
    """The master key itself (base64 of 32 bytes, as ``edoc-gateway config new-master-key``
    prints it), instead of a file; best given as ``GATEWAY_MASTER_KEY``. Never logged. Every
    node of one deployment needs the same key (this or ``master_key_file``), never one from a
    shared directory."""
    blob_backend: BlobBackend = BlobBackend.FILE
    """Where blobs live: ``file`` (``<data_dir>/blobs``) or ``postgres`` (in the database of
    ``database_dsn``, so several nodes share nothing else; needs ``master_key`` or
    ``master_key_file``). ``edoc-gateway db migrate-blobs`` moves existing blobs."""
    inline_blob_bytes: int = field(default=256 * KiB, metadata={"min": 0, "max": 16 * MiB})
    """Blobs up to this size (receipts, most packages and attachments) are kept in the database,
    committed in the transaction of the package that names them: one durable sync per accepted
    package instead of two per blob file. Larger ones stream to ``blob_backend``. 0 keeps every
    blob in ``blob_backend``."""
    gateway_id: str = "edoc-gateway"
    """How receipts and signatures name this gateway (its agency code or host name)."""
    signing_key_file: Path | None = None
    """PEM private key that signs receipts and emitted packages. Unset: a self-signed key and
    certificate are generated in ``<data_dir>/signing/`` on first start (fine for a pilot; a
    production gateway configures one issued by a trusted CA)."""
    signing_cert_file: Path | None = None
    """PEM certificate (chain) matching ``signing_key_file``."""
    signature_required_for: tuple[str, ...] = ()
    """Senders whose packages are refused unless their XML signature verifies ("*" = all)."""
    signature_sha1_allowed_for: tuple[str, ...] = ()
    """Senders whose legacy RSA-SHA1 signatures may verify (SHA-1 is refused otherwise)."""
    trust_store_dir: Path | None = None
    """Directory of CA certificates (PEM) that signer certificates must chain to. Unset:
    certificates are reported but not chained (results say "unverifiable")."""
    trust_revocation: RevocationMode = RevocationMode.SOFT_FAIL
    """Revocation checks for signer certificates: ``off``, ``soft-fail`` (an unreachable CRL or
    OCSP server leaves the status unknown) or ``hard-fail`` (it makes the certificate untrusted).
    A revoked certificate is never trusted."""
    trust_ocsp: bool = True
    """Ask the certificate's OCSP responder first; CRLs are the fallback."""
    trust_proxy: str = ""
    """HTTP proxy for CRL and OCSP requests (the specialised network usually needs one)."""
    certificate_expiry_warning_days: int = field(default=30, metadata={"min": 0})
    """Health output warns this many days before a configured certificate expires."""
    upstreams: tuple[UpstreamSettings, ...] = field(default=(), metadata={"table": "upstream"})
    """The ``[[upstream]]`` tables: where packages for agencies that are not local go."""
    routes: tuple[RouteRule, ...] = field(default=(), metadata={"table": "route"})
    """The ``[[route]]`` tables, tried in order after the agency directory's exact codes."""
    default_upstream: str = ""
    """The upstream for a recipient no directory entry or route matches; empty: such a
    recipient is refused at send time."""
    relay_max_attempts: int = field(default=20, metadata={"min": 1})
    """A package still undelivered after this many transient failures becomes a dead letter."""
    relay_max_age_hours: int = field(default=72, metadata={"min": 1})
    """A package still undelivered after this many hours in the outbox becomes a dead letter
    (whichever of this and ``relay_max_attempts`` comes first)."""
    relay_backoff_base_seconds: int = field(default=5, metadata={"min": 1})
    """The first retry waits about this long; each further one doubles it (with jitter)."""
    relay_backoff_max_seconds: int = 900
    """The longest wait between two retries (at least ``relay_backoff_base_seconds``)."""
    relay_lease_seconds: int = field(default=120, metadata={"min": 10})
    """How long a worker owns a claimed outbox item or a poller lease before another node may
    take it over (longer than the slowest upstream call)."""
    relay_circuit_failures: int = field(default=5, metadata={"min": 1})
    """Consecutive transient failures that open an upstream's circuit breaker."""
    relay_circuit_cooldown_seconds: int = field(default=60, metadata={"min": 0})
    """How long an open circuit waits before one probe send is let through."""
    relay_concurrency: int = field(default=4, metadata={"min": 1, "max": 64})
    """Sends in flight at once per upstream (threads of the relay worker). Sends mostly wait on
    the upstream, so a few more than the cores pay off; 1 sends one package at a time."""
    directory_sync_minutes: int = field(default=60, metadata={"min": 0})
    """How often ``relay run`` refreshes the agency directory from each upstream (0: never)."""
    trust_domains: tuple[TrustDomainSettings, ...] = field(
        default=(), metadata={"table": "trust_domain"}
    )
    """``[[trust_domain]]`` tables: further PKIs, each for the senders mapped to it (TOML only)."""
    trust_senders: tuple[tuple[str, str], ...] = field(
        default=(), metadata={"table": "trust_senders"}
    )
    """``[trust_senders]``: (sender pattern, domain name) pairs. A pattern is an exact agency
    code, a prefix ending in ``*`` (``000.00.*``) or ``*`` alone; the most specific one wins."""
    legacy_profiles_dir: Path | None = None
    """Directory of extra legacy client profiles (``<name>.toml``) for the eDoc SOAP dialect at
    ``/legacy/edoc``; a file here overrides a bundled profile of the same name."""
    legacy_profile: str = "edoc"
    """The legacy client profile used for agencies not named in ``legacy_profile_by_agency``."""
    legacy_profile_by_agency: tuple[str, ...] = ()
    """``"<agency code>=<profile>"`` entries choosing a legacy client profile per agency."""
    retention_document_days: int = field(default=0, metadata={"min": 0})
    """Days a document package keeps its content (package, attachments, raw bytes) once every
    local recipient confirmed or refused it and every upstream send went out; then it is purged
    (``packages purge``, and the periodic job). 0 keeps content for ever."""
    retention_status_days: int = field(default=0, metadata={"min": 0})
    """The same for status packages. 0 keeps them for ever."""
    retention_duplicate_days: int = field(default=0, metadata={"min": 0})
    """Days a purged package's identity (sender, document, duplicate key, content hash) and its
    receipt stay, so a resend is still answered as a duplicate; then the row is forgotten. At
    least each ``retention_*_days`` that is set; 0 keeps identities for ever."""
    retention_interval_minutes: int = field(default=60, metadata={"min": 0})
    """How often the relay process runs the purge and the blob collector (0: only by hand)."""
    blob_collect_grace_hours: int = field(default=24, metadata={"min": 1})
    """The collector removes a blob no package references only when it is older than this: a
    request still in flight may have written it and not yet committed the row naming it."""
    message_language: str = "both"
    """The language of what a clerk reads (SOAP faults, the legacy ErrorList, receipts' warnings,
    the REST face's ErrorDesc): ``vi``, ``en`` or ``both`` (Vietnamese first); codes never
    change."""
    message_language_by_agency: tuple[str, ...] = ()
    """``"<agency code>=<vi|en|both>"`` entries choosing the message language per agency."""
    log_format: LogFormat = LogFormat.TEXT
    """``text`` or ``json``: one shape for the lines of every process (serve workers, relay,
    simulator), written to standard error."""
    log_level: str = "INFO"
    """The least severe level logged: ``DEBUG``, ``INFO``, ``WARNING``, ``ERROR`` or
    ``CRITICAL``. Third-party per-call chatter (httpx) is kept at WARNING."""
    health_oldest_queued_seconds: int = field(default=3600, metadata={"min": 1})
    """``health`` and ``/readyz`` fail when a package has waited in the outbox longer than this
    (a stuck package)."""
    health_upstream_down_seconds: int = field(default=900, metadata={"min": 1})
    """``health`` and ``/readyz`` fail when every contact with an upstream (sends, polls) has
    failed for longer than this."""

    @property
    def message_languages(self) -> LanguagePolicy:
        """The language each agency reads (checked by :func:`check`)."""
        return LanguagePolicy.parse(self.message_language, self.message_language_by_agency)

    def __post_init__(self) -> None:
        _normalise(self)

    @property
    def blob_dir(self) -> Path:
        return self.data_dir / "blobs"

    @property
    def scratch_dir(self) -> Path:
        """This node's own scratch files (spooled requests) with the PostgreSQL blob backend."""
        return self.data_dir / "scratch"

    @property
    def retention_enabled(self) -> bool:
        """Whether anything is ever purged (the periodic job runs only then)."""
        return bool(self.retention_document_days or self.retention_status_days)

    @property
    def sqlite_path(self) -> Path:
        return self.data_dir / "gateway.sqlite3"

    @property
    def key_file(self) -> Path:
        return self.master_key_file or self.data_dir / "master.key"

    @property
    def signing_dir(self) -> Path:
        return self.data_dir / "signing"

    @property
    def uses_postgres(self) -> bool:
        return self.database_dsn.startswith(("postgresql://", "postgres://"))


@dataclass(frozen=True, slots=True)
class UpstreamSettings:
    """One upstream this gateway relays to and polls (from the ``[[upstream]]`` tables)."""

    name: str
    """Local name, used in routing rules, queue listings and logs (e.g. ``national``)."""
    protocol: UpstreamProtocol
    """``vxp``: the national axis REST API (reference §4); ``peer``: a parent edoc-gateway's SOAP
    service (its ``/soap/v1``)."""
    endpoint: str
    """Base URL: the VXP adapter (``http://10.0.0.1:8080/XrdAdapter/adapter``) or the parent
    gateway's SOAP address (``https://truc.example.gov.vn/soap/v1``)."""
    system_id: str = ""
    """VXP ``systemid`` (e.g. ``00.53.W00``); for a peer, this gateway's agency code there."""
    secret: str = ""
    """The VXP HMAC secret, or the peer agency's UsernameToken secret. Never logged."""
    timeout_seconds: float = field(default=30.0, metadata={"above": 0})
    """Connect and read timeout of every call."""
    verify_tls: bool = True
    """Check the upstream's TLS certificate (turn off only on a test bench)."""
    ca_bundle: Path | None = None
    """CA certificates for the upstream's TLS certificate (the specialised network's own CA)."""
    client_cert_file: Path | None = None
    """PEM client certificate for mutual TLS (with ``client_key_file``)."""
    client_key_file: Path | None = None
    """PEM private key of ``client_cert_file``."""
    proxy: str = ""
    """HTTP(S) proxy URL for reaching the upstream."""
    source_address: str = ""
    """Local IP address to send from (the interface on the specialised network)."""
    poll_interval_seconds: float = field(default=10.0, metadata={"above": 0})
    """How often the inbound poller asks for new packages and statuses."""

    def __post_init__(self) -> None:
        _normalise(self)


@dataclass(frozen=True, slots=True)
class RouteRule:
    """A ``[[route]]`` table: recipients matching every given test go to ``upstream``."""

    upstream: str
    """The ``[[upstream]]`` (by name) these recipients go to."""
    prefix: str = ""
    """The code's text starts with this (useful for QĐ 20 codes: ``H36.``)."""
    level1: str = ""
    """The code's level-1 unit (``H36``, ``G22``), in either code form."""
    level: int = field(default=0, metadata={"min": 0})
    """The code's level (1 = ministry or province); 0: any level."""

    def describe(self) -> str:
        tests = [
            f"{name}={value!r}"
            for name, value in (
                ("prefix", self.prefix),
                ("level1", self.level1),
                ("level", self.level),
            )
            if value
        ]
        return f"{' '.join(tests)} -> {self.upstream}"


@dataclass(frozen=True, slots=True)
class TrustDomainSettings:
    """One ``[[trust_domain]]`` table as written: where its certificates are, how it checks.

    Certificates are read when the exchange starts (and by ``config check``), not here.
    """

    name: str
    """The domain's name, used by ``[trust_senders]`` and in signature verdicts."""
    anchors: tuple[Path, ...]
    """CA certificate files or directories of them (PEM or DER): the trusted roots."""
    intermediates: tuple[Path, ...] = ()
    """Untrusted CA certificates for path building (signatures often omit them)."""
    revocation: RevocationMode = RevocationMode.SOFT_FAIL
    """``off``, ``soft-fail`` or ``hard-fail``, as ``trust_revocation`` for the flat settings."""
    ocsp: bool = True
    """Ask the certificate's OCSP responder first; CRLs are the fallback."""
    proxy: str = ""
    """HTTP proxy for this domain's CRL and OCSP requests."""
    crl_urls: tuple[str, ...] = ()
    """CRL URLs used instead of the certificates' own (e.g. a mirror on the government net)."""
    cache_seconds: int = field(default=3600, metadata={"min": 0})
    """How long revocation answers and CRLs are reused (never past their nextUpdate)."""
    timeout_seconds: float = field(default=10.0, metadata={"above": 0})
    """Deadline for one OCSP or CRL request."""
    expiry_warning_days: int | None = field(default=None, metadata={"min": 0})
    """Health warns this many days before an anchor expires (default: the global setting)."""

    def __post_init__(self) -> None:
        _normalise(self)


DEFAULT_TRUST_DOMAIN = "default"
"""The domain the flat ``trust_store_dir``/``trust_*`` settings define; it serves ``*``."""


def _normalise(obj: Any) -> None:
    """Turn enum-typed fields given as plain text into their enum (values are checked later)."""
    for name, hint in _hints(type(obj)).items():
        value = getattr(obj, name)
        if isinstance(hint, type) and issubclass(hint, enum.Enum) and not isinstance(value, hint):
            # a value outside the enum stays as given: check() names the field and the choices
            with contextlib.suppress(ValueError):
                object.__setattr__(obj, name, hint(value))


_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    if cls not in _HINTS:
        _HINTS[cls] = typing.get_type_hints(cls)
    return _HINTS[cls]


# --- where each key was written ----------------------------------------------------------------

_HEADER = re.compile(r"^\s*\[(\[)?\s*([^\[\]#]+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(r"""^\s*("(?:[^"\\]|\\.)*"|'[^']*'|[A-Za-z0-9_-]+)\s*=""")


def _key_lines(text: str) -> dict[str, int]:
    """The line of each key and table of a TOML text, as ``port``, ``upstream[2]``,
    ``upstream[2].endpoint`` or ``trust_senders.ca-a`` (``[gateway]`` is the top level)."""
    lines: dict[str, int] = {}
    table = ""
    counts: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), 1):
        header = _HEADER.match(line)
        if header:
            name = header[2].strip().strip("\"'").removeprefix("gateway.")
            if name == "gateway":
                table = ""
                continue
            if header[1]:
                counts[name] = counts.get(name, 0) + 1
                table = f"{name}[{counts[name]}]"
            else:
                table = name
            lines.setdefault(table, number)
            continue
        key = _KEY.match(line)
        if key:
            name = key[1].strip("\"'")
            lines.setdefault(f"{table}.{name}" if table else name, number)
    return lines


class _Reader:
    """Collects problems, each located at the file line (or variable) that caused it."""

    def __init__(self, file: str = "", text: str = "") -> None:
        self.file = file
        self.lines = _key_lines(text) if text else {}
        self.problems: list[Finding] = []
        self.origins: dict[str, str] = {}
        """Where each value that was read came from, by the keys of :func:`_key_lines`."""
        self.upstream_names: list[str] = []
        """Names of every ``[[upstream]]`` written, also those too broken to be used."""

    def sorted_problems(self) -> list[Finding]:
        """The problems in the order of the file's lines (then the environment's)."""

        def line(problem: Finding) -> tuple[int, int]:
            head, _, number = problem.path.rpartition(":")
            if head == self.file and number.isdigit():
                return (0, int(number))
            return (1, 0)

        return sorted(self.problems, key=line)

    def where(self, key: str) -> str:
        line = self.lines.get(key)
        if line is None and "." in key:
            line = self.lines.get(key.rsplit(".", 1)[0])
        return f"{self.file}:{line}" if line else self.file

    def problem(self, code: str, key: str, message: str) -> None:
        self.problems.append(Finding(code, self.origins.get(key) or self.where(key), message))


# --- the one conversion path -------------------------------------------------------------------


class _Bad(ValueError):
    """A value that cannot be used; ``out_of_range``: it has the right type but is not allowed."""

    def __init__(self, sentence: str, *, out_of_range: bool = False) -> None:
        super().__init__(sentence)
        self.out_of_range = out_of_range


_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a table"
    return repr(value)


def _suggest(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _convert(hint: Any, value: Any) -> Any:
    """``value`` as the type a field declares, or :class:`_Bad` with a sentence saying why not.

    Text is accepted for every type (the environment has nothing else): numbers, ``true``/
    ``false``, comma-separated lists of codes."""
    origin = typing.get_origin(hint)
    if origin in (types.UnionType, typing.Union):
        inner = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        if isinstance(value, str) and not value.strip():
            return None
        return _convert(inner[0], value)
    if origin is tuple:
        item = typing.get_args(hint)[0]
        if isinstance(value, str):
            value = [part for part in value.split(",") if part.strip()] if item is str else [value]
        if not isinstance(value, list | tuple):
            raise _Bad(f"{_shown(value)} is not a list")
        parts = tuple(_convert(item, part) for part in value)
        return tuple(part.strip() for part in parts) if item is str else parts
    if hint is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
            return value.strip().lower() in _TRUE
        raise _Bad(f"{_shown(value)} is not true or false")
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str) and re.fullmatch(r"\s*[+-]?\d+\s*", value):
            return int(value)
        raise _Bad(f"{_shown(value)} is not a whole number")
    if hint is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str) and re.fullmatch(r"\s*[+-]?(\d+\.?\d*|\.\d+)\s*", value):
            return float(value)
        raise _Bad(f"{_shown(value)} is not a number")
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        choices = [str(member.value) for member in hint]
        if isinstance(value, str) and value.strip() in choices:
            return hint(value.strip())
        hint_text = _suggest(value, choices) if isinstance(value, str) else ""
        raise _Bad(
            f"must be one of {', '.join(choices)}, not {_shown(value)}{hint_text}",
            out_of_range=True,
        )
    if hint is Path:
        if isinstance(value, str) and value.strip():
            return Path(value.strip()).expanduser()
        raise _Bad(f"{_shown(value)} is not a path")
    if hint is str:
        if isinstance(value, str):
            return value
        raise _Bad(f"{_shown(value)} is not text (write it in quotes)")
    raise TypeError(f"no conversion for {hint!r}")  # a field type this module does not handle


def _table_fields(cls: type) -> dict[str, dataclasses.Field[Any]]:
    """A settings class's plain keys (its fields that are not tables of their own)."""
    return {f.name: f for f in dataclasses.fields(cls) if "table" not in f.metadata}


def _read_fields(
    reader: _Reader, cls: type, raw: Mapping[str, Any], key: str, code: str, label: str
) -> dict[str, Any]:
    """The keys of one table converted to ``cls``'s field types; problems go to ``reader``.

    ``key``: the table's prefix in :func:`_key_lines` terms (``upstream[2].``); ``code``: the
    prefix of range codes (``upstream.``); ``label``: how a message names the table."""
    known = _table_fields(cls)
    hints = _hints(cls)
    out: dict[str, Any] = {}
    for written, value in raw.items():
        name = written.replace("-", "_")
        where = f"{key}{written}"
        if name not in known:
            what = "key" if key else "setting"
            reader.problem(
                "M.Config.Unknown",
                where,
                f"{label}unknown {what} {written!r}{_suggest(name, known)}",
            )
            continue
        try:
            out[name] = _convert(hints[name], value)
        except _Bad as bad:
            if bad.out_of_range:
                reader.problem(f"R.Config.{code}{name}", where, f"{label}{name} {bad}")
            else:
                # a trust domain's keys are named with their table (an upstream's and a route's are
                # flat, as they always were)
                kind = f"trust_domain.{name}" if code == "trust_domain." else name
                reader.problem(f"M.Config.{kind}", where, f"{label}{name}: {bad}")
            continue
        reader.origins[f"{key}{name}"] = reader.where(where)
    return out


def _ranges(obj: Any, reader: _Reader, key: str, code: str, label: str) -> None:
    """Numbers outside the bounds their fields declare (``min``, ``max``, ``above``)."""
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if not isinstance(value, int | float) or isinstance(value, bool):
            continue
        low, high, above = f.metadata.get("min"), f.metadata.get("max"), f.metadata.get("above")
        if low is not None and high is not None and not low <= value <= high:
            sentence = f"must be between {low} and {high}"
        elif low is not None and value < low:
            sentence = f"must be at least {low}"
        elif high is not None and value > high:
            sentence = f"must be at most {high}"
        elif above is not None and not value > above:
            sentence = f"must be more than {above}"
        else:
            continue
        reader.problem(
            f"R.Config.{code}{f.name}", f"{key}{f.name}", f"{label}{f.name} {sentence}, not {value}"
        )


# --- loading -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Loaded:
    """What :func:`read_settings` found: the settings, every problem, and where each value was
    written (``gateway.toml:12`` or ``GATEWAY_PORT``), by keys such as ``port`` or
    ``upstream[2].endpoint``."""

    settings: Settings
    problems: list[Finding]
    origins: Mapping[str, str]

    def where(self, key: str) -> str:
        return self.origins.get(key, "")


def load_settings(
    path: str | os.PathLike[str] | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """Settings from a TOML file (``[gateway]`` table or top level) and the environment.

    ``GATEWAY_CONFIG`` names the file when ``path`` is None; ``GATEWAY_<NAME>`` overrides a key.
    Raises :class:`ConfigError` listing every mistake (``findings``), each with its line.
    """
    loaded = read_settings(path, environ)
    if loaded.problems:
        raise ConfigError.of(loaded.problems)
    return loaded.settings


def read_settings(
    path: str | os.PathLike[str] | None = None, environ: Mapping[str, str] | None = None
) -> Loaded:
    """The settings and every problem found in them (the settings use defaults where a value
    could not be used). ``config check`` reports the problems; :func:`load_settings` raises."""
    env = os.environ if environ is None else environ
    file_name = path if path is not None else env.get("GATEWAY_CONFIG")
    raw: dict[str, Any] = {}
    reader = _Reader()
    if file_name:
        file_path = Path(file_name)
        try:
            text = file_path.read_text("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            problem = Finding("M.Config.File", str(file_path), f"cannot read {file_path}: {reason}")
            return Loaded(Settings(), [problem], {})
        try:
            raw = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            problem = Finding(
                "M.Config.File", str(file_path), f"{file_path} is not valid TOML: {exc}"
            )
            return Loaded(Settings(), [problem], {})
        reader = _Reader(str(file_path), text)
    values = _read_file(reader, raw, env)
    hints = _hints(Settings)
    for name in _table_fields(Settings):
        variable = "GATEWAY_" + name.upper()
        if variable not in env:
            continue
        try:
            values[name] = _convert(hints[name], env[variable])
        except _Bad as bad:
            code = f"R.Config.{name}" if bad.out_of_range else f"M.Config.{name}"
            sentence = f"{name} {bad}" if bad.out_of_range else f"{name}: {bad}"
            reader.problems.append(Finding(code, variable, sentence))
            continue
        reader.origins[name] = variable
    settings = Settings(**values)
    _check(settings, reader)
    return Loaded(settings, reader.sorted_problems(), reader.origins)


def _read_file(reader: _Reader, raw: Mapping[str, Any], env: Mapping[str, str]) -> dict[str, Any]:
    table = dict(raw.get("gateway", raw))
    if "gateway" in raw:
        for name in _TABLES:
            if name in raw and name not in table:
                table[name] = raw[name]
    table.pop("gateway", None)
    values: dict[str, Any] = {}
    upstreams = [
        _upstream(reader, item, n, env)
        for n, item in enumerate(_tables(reader, table.pop("upstream", []), "upstream"), 1)
    ]
    values["upstreams"] = tuple(u for u in upstreams if u is not None)
    routes = [
        _route(reader, item, n)
        for n, item in enumerate(_tables(reader, table.pop("route", []), "route"), 1)
    ]
    values["routes"] = tuple(r for r in routes if r is not None)
    if "trust_domain" in table:
        domains = [
            _trust_domain(reader, item, n)
            for n, item in enumerate(_tables(reader, table.pop("trust_domain"), "trust_domain"), 1)
        ]
        values["trust_domains"] = tuple(d for d in domains if d is not None)
    if "trust_senders" in table:
        values["trust_senders"] = _trust_senders(reader, table.pop("trust_senders"))
    values.update(_read_fields(reader, Settings, table, "", "", ""))
    return values


_TABLES = ("upstream", "route", "trust_domain", "trust_senders")


def _tables(reader: _Reader, value: Any, key: str) -> list[dict[str, Any]]:
    if isinstance(value, list) and all(isinstance(item, dict) for item in value):
        return value
    reader.problem(f"M.Config.{key}", key, f"{key} must be written as [[{key}]] tables")
    return []


def upstream_secret_variable(name: str) -> str:
    """``GATEWAY_UPSTREAM_<NAME>_SECRET``: where an upstream's secret may come from instead."""
    return (
        "GATEWAY_UPSTREAM_" + "".join(c if c.isalnum() else "_" for c in name.upper()) + "_SECRET"
    )


def _required(
    reader: _Reader,
    item: Mapping[str, Any],
    values: Mapping[str, Any],
    names: Iterable[str],
    key: str,
    table: str,
    label: str,
) -> bool:
    """Whether every required key has a usable value; a missing one is reported (one written
    but unusable was reported when it was read)."""
    missing = [name for name in names if not values.get(name)]
    for name in missing:
        if name not in item or item[name] == "":
            reader.problem(f"N.Config.{table}.{name}", key, f"{label}{name} is required")
    return not missing


def _upstream(
    reader: _Reader, item: Mapping[str, Any], n: int, env: Mapping[str, str]
) -> UpstreamSettings | None:
    key, label = f"upstream[{n}]", f"[[upstream]] #{n}: "
    reader.origins[key] = reader.where(key)
    values = _read_fields(reader, UpstreamSettings, item, key + ".", "upstream.", label)
    if isinstance(values.get("name"), str):
        reader.upstream_names.append(values["name"])  # routes naming it are not wrong too
    if not _required(
        reader, item, values, ("name", "protocol", "endpoint"), key, "upstream", label
    ):
        return None
    secret = env.get(upstream_secret_variable(values["name"]))
    if secret is not None:
        values["secret"] = secret
    return UpstreamSettings(**values)


def _route(reader: _Reader, item: Mapping[str, Any], n: int) -> RouteRule | None:
    key, label = f"route[{n}]", f"[[route]] #{n}: "
    values = _read_fields(reader, RouteRule, item, key + ".", "route.", label)
    if not _required(reader, item, values, ("upstream",), key, "route", label):
        return None
    rule = RouteRule(**values)
    if not (rule.prefix or rule.level1 or rule.level):
        reader.problem(
            "N.Config.route",
            key,
            f"{label}a route needs at least one of prefix, level1 or level "
            "(use default_upstream for a catch-all)",
        )
    return rule


def _trust_domain(reader: _Reader, item: Mapping[str, Any], n: int) -> TrustDomainSettings | None:
    key = f"trust_domain[{n}]"
    name = item.get("name")
    label = f"[[trust_domain]] #{n}" + (f" ({name})" if isinstance(name, str) and name else "")
    values = _read_fields(
        reader, TrustDomainSettings, item, key + ".", "trust_domain.", label + ": "
    )
    if not isinstance(values.get("name"), str) or not values["name"].strip():
        reader.problem(
            "N.Config.trust_domain.name", key, f"{label}: every trust domain needs a name"
        )
        return None
    if "anchors" not in values:
        if "anchors" not in item:
            reader.problem(
                "N.Config.trust_domain.anchors",
                key,
                f"{label}: anchors (CA certificate files or directories) are required",
            )
        return None
    values["name"] = values["name"].strip()
    return TrustDomainSettings(**values)


def _trust_senders(reader: _Reader, raw: Any) -> tuple[tuple[str, str], ...]:
    """``domain = ["code", "prefix*", "*"]`` lines, flattened to (pattern, domain) pairs."""
    where = "[trust_senders]"
    if not isinstance(raw, dict):
        reader.problem(
            "M.Config.trust_senders",
            "trust_senders",
            f'{where} must be a table of domain = ["sender code", "prefix*", "*"] lines',
        )
        return ()
    pairs: list[tuple[str, str]] = []
    for domain, patterns in raw.items():
        key = f"trust_senders.{domain}"
        items = [patterns] if isinstance(patterns, str) else patterns
        if not isinstance(items, list) or not all(isinstance(p, str) for p in items):
            reader.problem(
                "M.Config.trust_senders",
                key,
                f"{where}: {domain} must list sender codes or prefixes",
            )
            continue
        reader.origins[key] = reader.where(key)
        pairs.extend((pattern.strip(), str(domain)) for pattern in items)
    return tuple(pairs)


# --- rules between settings --------------------------------------------------------------------


def check(settings: Settings) -> None:
    """Refuse contradictory or unusable settings, naming each mistake and why (all of them)."""
    reader = _Reader()
    _check(settings, reader)
    if reader.problems:
        raise ConfigError.of(reader.problems)


def _check(settings: Settings, reader: _Reader) -> None:
    _enums(settings, reader, "", "", "")
    _ranges(settings, reader, "", "", "")
    if settings.database_dsn and not settings.uses_postgres:
        reader.problem(
            "M.Config.database_dsn",
            "database_dsn",
            "database_dsn must be a postgresql:// URL (leave it empty for SQLite)",
        )
    if settings.stream_threshold_bytes > settings.max_request_bytes:
        reader.problem(
            "M.Config.stream_threshold_bytes",
            "stream_threshold_bytes",
            "stream_threshold_bytes must not exceed max_request_bytes",
        )
    if settings.vxp_reject_replays and not settings.vxp_freshness_seconds:
        reader.problem(
            "M.Config.vxp_reject_replays",
            "vxp_reject_replays",
            "vxp_reject_replays needs vxp_freshness_seconds: signatures are remembered that long",
        )
    _check_secrets(settings, reader)
    _check_retention(settings, reader)
    if (settings.signing_key_file is None) != (settings.signing_cert_file is None):
        reader.problem(
            "M.Config.signing_key_file",
            "signing_key_file" if settings.signing_key_file else "signing_cert_file",
            "signing_key_file and signing_cert_file go together: set both or neither",
        )
    for entry in settings.legacy_profile_by_agency:
        code, _, profile = entry.partition("=")
        if not code.strip() or not profile.strip():
            reader.problem(
                "M.Config.legacy_profile_by_agency",
                "legacy_profile_by_agency",
                f"legacy_profile_by_agency entry {entry!r} must read <agency code>=<profile>",
            )
    try:
        LanguagePolicy.parse(settings.message_language)
    except ValueError as exc:
        reader.problem("R.Config.message_language", "message_language", f"message_language: {exc}")
    try:
        LanguagePolicy.parse("both", settings.message_language_by_agency)
    except ValueError as exc:
        reader.problem(
            "M.Config.message_language_by_agency",
            "message_language_by_agency",
            f"message_language_by_agency: {exc}",
        )
    if str(settings.log_level).upper() not in LOG_LEVELS:
        reader.problem(
            "R.Config.log_level",
            "log_level",
            f"log_level must be one of {', '.join(LOG_LEVELS)}, not {_shown(settings.log_level)}",
        )
    _check_relay(settings, reader)
    _check_trust(settings, reader)


def _check_secrets(settings: Settings, reader: _Reader) -> None:
    """The master key: one source, well formed, and configured where nodes share no directory."""
    if settings.master_key and settings.master_key_file is not None:
        reader.problem(
            "M.Config.master_key",
            "master_key",
            "set master_key or master_key_file, not both",
        )
    if settings.master_key and not _is_master_key(settings.master_key):
        reader.problem(
            "M.Config.master_key",
            "master_key",
            "master_key must be base64 of 32 bytes (edoc-gateway config new-master-key prints one)",
        )
    if settings.blob_backend is BlobBackend.POSTGRES:
        if not settings.uses_postgres:
            reader.problem(
                "M.Config.blob_backend",
                "blob_backend",
                'blob_backend = "postgres" needs database_dsn (a postgresql:// URL)',
            )
        if not settings.master_key and settings.master_key_file is None:
            reader.problem(
                "N.Config.master_key",
                "master_key",
                'blob_backend = "postgres" needs master_key or master_key_file, the same on '
                "every node: a key generated in each node's data_dir would differ",
            )


def _check_retention(settings: Settings, reader: _Reader) -> None:
    """Identities must outlive content: a resend must still be found as a duplicate."""
    window = settings.retention_duplicate_days
    for name in ("retention_document_days", "retention_status_days"):
        days = getattr(settings, name)
        if window and (not days or days > window):
            reader.problem(
                "R.Config.retention_duplicate_days",
                "retention_duplicate_days",
                f"retention_duplicate_days ({window}) must be at least {name} "
                f"({days or 'for ever'}): a purged package's identity outlives its content",
            )


def _is_master_key(text: str) -> bool:
    try:
        return len(base64.b64decode(text.strip(), validate=True)) == 32
    except binascii.Error:
        return False


def _enums(obj: Any, reader: _Reader, key: str, code: str, label: str) -> None:
    """Enum fields set (by a caller building settings in code) to a value outside the enum."""
    for name, hint in _hints(type(obj)).items():
        value = getattr(obj, name)
        if isinstance(hint, type) and issubclass(hint, enum.Enum) and not isinstance(value, hint):
            choices = ", ".join(str(member.value) for member in hint)
            reader.problem(
                f"R.Config.{code}{name}",
                f"{key}{name}",
                f"{label}{name} must be one of {choices}, not {_shown(value)}",
            )


def _check_relay(settings: Settings, reader: _Reader) -> None:
    """Upstream names are unique and every route and the default name one of them."""
    names: list[str] = []
    written = {u.name for u in settings.upstreams}
    broken = [name for name in reader.upstream_names if name not in written]
    for n, upstream in enumerate(settings.upstreams, 1):
        key, where = f"upstream[{n}].", f"[[upstream]] {upstream.name!r}: "
        if upstream.name in names:
            reader.problem(
                "R.Config.upstream.name",
                key + "name",
                f"[[upstream]] {upstream.name!r} is defined twice",
            )
        names.append(upstream.name)
        _enums(upstream, reader, key, "upstream.", where)
        _ranges(upstream, reader, key, "upstream.", where)
        if not upstream.endpoint.startswith(("http://", "https://")):
            reader.problem(
                "M.Config.upstream.endpoint",
                key + "endpoint",
                f"{where}endpoint must be an http(s):// URL",
            )
        if (upstream.client_cert_file is None) != (upstream.client_key_file is None):
            reader.problem(
                "M.Config.upstream.client_cert_file",
                key + "client_cert_file",
                f"{where}client_cert_file and client_key_file go together",
            )
    for n, rule in enumerate(settings.routes, 1):
        _ranges(rule, reader, f"route[{n}].", "route.", f"[[route]] #{n}: ")
        if rule.upstream not in names + broken:
            reader.problem(
                "R.Config.route.upstream",
                f"route[{n}].upstream",
                f"[[route]] {rule.describe()}: no [[upstream]] is named {rule.upstream!r}"
                f"{_suggest(rule.upstream, names + broken)}",
            )
    if settings.default_upstream and settings.default_upstream not in names + broken:
        reader.problem(
            "R.Config.default_upstream",
            "default_upstream",
            f"default_upstream {settings.default_upstream!r} names no [[upstream]] "
            f"(configured: {', '.join(names) or 'none'})",
        )
    if settings.relay_backoff_max_seconds < settings.relay_backoff_base_seconds:
        reader.problem(
            "R.Config.relay_backoff_max_seconds",
            "relay_backoff_max_seconds",
            "relay_backoff_max_seconds must not be below relay_backoff_base_seconds",
        )


def _check_trust(settings: Settings, reader: _Reader) -> None:
    """Trust domains that cannot work: say which domain or sender, and why. (Whether the
    certificate files can be read is :func:`gateway.trust.trust_problems`' part.)"""
    names: dict[str, str] = {}
    if settings.trust_store_dir is not None:
        names[DEFAULT_TRUST_DOMAIN] = "trust_store_dir"
    for n, domain in enumerate(settings.trust_domains, 1):
        key, where = f"trust_domain[{n}].", f"trust domain {domain.name!r}"
        if domain.name in names:
            reader.problem(
                "M.Config.trust_domain.name",
                key + "name",
                f"{where} is defined twice (also by {names[domain.name]})",
            )
        names[domain.name] = "[[trust_domain]]"
        _enums(domain, reader, key, "trust_domain.", where + ": ")
        _ranges(domain, reader, key, "trust_domain.", where + ": ")
        for url in (*domain.crl_urls, *((domain.proxy,) if domain.proxy else ())):
            parts = urllib.parse.urlsplit(url)
            if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
                reader.problem(
                    "M.Config.trust_domain",
                    key + ("proxy" if url == domain.proxy else "crl_urls"),
                    f"{where}: {url!r} is not an http(s) URL",
                )
        if not domain.anchors:
            reader.problem(
                "N.Config.trust_domain.anchors",
                key + "anchors",
                f"{where}: no anchors are configured",
            )
    seen: dict[str, str] = {}
    if settings.trust_store_dir is not None:
        seen["*"] = DEFAULT_TRUST_DOMAIN
    for pattern, domain_name in settings.trust_senders:
        key = f"trust_senders.{domain_name}"
        if domain_name not in names:
            known = ", ".join(sorted(names)) or "none is configured"
            reader.problem(
                "R.Config.trust_senders",
                key,
                f"[trust_senders] maps senders to trust domain {domain_name!r}, which is not "
                f"defined (defined: {known}){_suggest(domain_name, names)}",
            )
        if not pattern or "*" in pattern[:-1]:
            reader.problem(
                "M.Config.trust_senders",
                key,
                f"[trust_senders] {domain_name}: {pattern!r} is not an agency code, a prefix "
                "ending in '*', or '*'",
            )
        if pattern in seen:
            already = seen[pattern]
            how = (
                " (the flat trust_store_dir settings form the default domain, which serves '*')"
                if pattern == "*" and already == DEFAULT_TRUST_DOMAIN
                else ""
            )
            reader.problem(
                "M.Config.trust_senders",
                key,
                f"[trust_senders]: sender {pattern!r} is mapped twice, to {already!r} and to "
                f"{domain_name!r}{how}",
            )
        seen[pattern] = domain_name


# --- describing --------------------------------------------------------------------------------


def describe(settings: Settings) -> dict[str, str]:
    """The effective settings as text, secrets masked, for ``config check``."""
    out = {}
    for name in _table_fields(Settings):
        value = getattr(settings, name)
        if name == "master_key" and value:
            value = "***"
        if name == "database_dsn" and value and "@" in value:
            scheme, rest = value.split("://", 1)
            value = f"{scheme}://***@{rest.split('@', 1)[1]}"
        out[name] = str(value)
    for upstream in settings.upstreams:
        secret = "***" if upstream.secret else "(none)"
        out[f"upstream.{upstream.name}"] = (
            f"{upstream.protocol} {upstream.endpoint} system_id={upstream.system_id!r} "
            f"secret={secret} timeout={upstream.timeout_seconds}s"
        )
    for index, rule in enumerate(settings.routes, 1):
        out[f"route.{index}"] = rule.describe()
    for d in settings.trust_domains:
        out[f"trust_domain.{d.name}"] = (
            f"anchors={', '.join(map(str, d.anchors))}; "
            f"intermediates={', '.join(map(str, d.intermediates)) or '-'}; "
            f"revocation={d.revocation}; ocsp={d.ocsp}; proxy={d.proxy or '-'}; "
            f"cache_seconds={d.cache_seconds}"
        )
    by_domain: dict[str, list[str]] = {}
    for pattern, name in settings.trust_senders:
        by_domain.setdefault(name, []).append(pattern)
    for name, patterns in by_domain.items():
        out[f"trust_senders.{name}"] = ", ".join(patterns)
    return out
