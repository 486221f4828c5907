"""``edoc-gateway config check``: every mistake in a configuration, found in one run.

:func:`gateway.config.read_settings` finds what the text alone shows (unknown keys with a
suggestion, wrong types and ranges, contradictions), each at its line. This module adds what only
the machine can tell: whether every file and directory the settings name exists (and the trust
certificates can be read), whether ``database_dsn`` accepts a connection, and whether each
upstream endpoint answers. The network checks are skipped with ``offline``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx

from gateway.config import Loaded, Settings, read_settings
from gateway.errors import Finding
from gateway.trust import trust_problems

CONNECT_TIMEOUT_SECONDS = 5.0
"""How long one connection attempt (database, upstream) may take before it counts as failed."""


@dataclass(frozen=True, slots=True)
class Report:
    settings: Settings
    problems: list[Finding]

    @property
    def ok(self) -> bool:
        return not self.problems


def check_configuration(
    path: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
    *,
    offline: bool = False,
) -> Report:
    """Every problem of the configuration, in the order a reader meets them."""
    loaded = read_settings(path, environ)
    if any(p.code == "M.Config.File" for p in loaded.problems):
        return Report(loaded.settings, loaded.problems)
    problems = list(loaded.problems)
    problems.extend(path_problems(loaded))
    for problem in trust_problems(loaded.settings):
        problems.append(
            Finding(problem.code, problem.path or _trust_where(loaded, problem), problem.message)
        )
    if not offline:
        problems.extend(database_problems(loaded))
        problems.extend(upstream_problems(loaded))
    return Report(loaded.settings, _by_line(problems, loaded))


def _by_line(problems: list[Finding], loaded: Loaded) -> list[Finding]:
    """Problems in the order of the file's lines, then those of the environment."""
    files = {origin.rpartition(":")[0] for origin in loaded.origins.values() if ":" in origin}

    def line(problem: Finding) -> tuple[int, int]:
        head, _, number = problem.path.rpartition(":")
        return (0, int(number)) if head in files and number.isdigit() else (1, 0)

    return sorted(problems, key=line)


def _trust_where(loaded: Loaded, problem: Finding) -> str:
    if problem.code == "M.Config.trust_store_dir":
        return loaded.where("trust_store_dir")
    for n, domain in enumerate(loaded.settings.trust_domains, 1):
        if f"trust domain {domain.name!r}:" in problem.message:
            kind = "anchors" if "anchor" in problem.code else "intermediates"
            return loaded.where(f"trust_domain[{n}].{kind}") or loaded.where(f"trust_domain[{n}]")
    return ""


def path_problems(loaded: Loaded) -> list[Finding]:
    """Files and directories the settings name that are missing or of the wrong kind.

    ``data_dir`` and the master key are created on first start, so only their parent directory
    must exist; the trust settings are checked (and their certificates read) by
    :func:`gateway.trust.trust_problems`."""
    s = loaded.settings
    wanted: list[tuple[str, str, Path | None, str]] = [
        ("data_dir", "data_dir", s.data_dir, "creatable"),
        ("master_key_file", "master_key_file", s.master_key_file, "creatable"),
        ("signing_key_file", "signing_key_file", s.signing_key_file, "file"),
        ("signing_cert_file", "signing_cert_file", s.signing_cert_file, "file"),
        ("legacy_profiles_dir", "legacy_profiles_dir", s.legacy_profiles_dir, "dir"),
    ]
    for n, upstream in enumerate(s.upstreams, 1):
        for name in ("ca_bundle", "client_cert_file", "client_key_file"):
            wanted.append(
                (
                    f"[[upstream]] {upstream.name!r}: {name}",
                    f"upstream[{n}].{name}",
                    getattr(upstream, name),
                    "file",
                )
            )
    problems = []
    for label, key, path, kind in wanted:
        if path is None:
            continue
        code = "N.Config." + key.split(".")[-1]
        where = loaded.where(key)
        if kind == "creatable":
            if path.exists() and not (path.is_dir() if key == "data_dir" else path.is_file()):
                expected = "a directory" if key == "data_dir" else "a file"
                problems.append(
                    Finding(f"M.Config.{key}", where, f"{label} {path} is not {expected}")
                )
            elif not path.exists() and not path.absolute().parent.is_dir():
                problems.append(
                    Finding(
                        code,
                        where,
                        f"{label} {path} cannot be created: "
                        f"its directory {path.absolute().parent} does not exist",
                    )
                )
        elif not path.exists():
            problems.append(Finding(code, where, f"{label} {path} does not exist"))
        elif kind == "file" and not path.is_file():
            problems.append(
                Finding("M.Config." + key.split(".")[-1], where, f"{label} {path} is not a file")
            )
        elif kind == "dir" and not path.is_dir():
            problems.append(Finding(f"M.Config.{key}", where, f"{label} {path} is not a directory"))
    return problems


def database_problems(loaded: Loaded) -> list[Finding]:
    """A connection attempt to ``database_dsn`` (PostgreSQL only; SQLite needs none)."""
    settings = loaded.settings
    if not settings.uses_postgres:
        return []
    where = loaded.where("database_dsn")
    try:
        import psycopg
    except ImportError:
        return [
            Finding(
                "N.Config.database_dsn",
                where,
                "database_dsn names PostgreSQL but psycopg is not installed "
                "(pip install 'edoc-gateway[postgres]')",
            )
        ]
    try:
        with psycopg.connect(settings.database_dsn, connect_timeout=int(CONNECT_TIMEOUT_SECONDS)):
            pass
    except psycopg.Error as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return [
            Finding("M.Config.database_dsn", where, f"cannot connect to database_dsn: {reason}")
        ]
    return []


def upstream_problems(loaded: Loaded) -> list[Finding]:
    """One request to each upstream endpoint: any HTTP answer counts as reachable."""
    problems = []
    for n, upstream in enumerate(loaded.settings.upstreams, 1):
        if not upstream.endpoint.startswith(("http://", "https://")):
            continue  # already reported by the settings check
        verify: str | bool = str(upstream.ca_bundle) if upstream.ca_bundle else upstream.verify_tls
        cert = (
            (str(upstream.client_cert_file), str(upstream.client_key_file))
            if upstream.client_cert_file and upstream.client_key_file
            else None
        )
        timeout = min(upstream.timeout_seconds, CONNECT_TIMEOUT_SECONDS)
        try:
            with httpx.Client(
                verify=verify, cert=cert, proxy=upstream.proxy or None, timeout=timeout
            ) as client:
                client.get(upstream.endpoint)
        except (httpx.HTTPError, OSError, ValueError) as exc:
            reason = str(exc) or type(exc).__name__
            problems.append(
                Finding(
                    "M.Config.upstream.endpoint",
                    loaded.where(f"upstream[{n}].endpoint"),
                    f"[[upstream]] {upstream.name!r}: {upstream.endpoint} does not answer: "
                    f"{reason}",
                )
            )
    return problems


def render(problem: Finding) -> str:
    """One line of ``config check`` output: location, sentence, stable code."""
    where = f"{problem.path}: " if problem.path else ""
    return f"{where}{problem.message} [{problem.code}]"
