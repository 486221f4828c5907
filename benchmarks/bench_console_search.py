"""Benchmark of the console's document tracker (issue 15, item 1): search latency with a
million packages in the store, on SQLite and PostgreSQL. Target: p99 <= 100 ms per query kind.

The store is filled with bulk SQL inserts (not the SOAP path): ``packages`` rows with a
realistic summary (Số, ký hiệu, a Vietnamese subject from a 400-word vocabulary, 1-3
recipients among 2,000 agencies, 500 senders, two years of dates), a pending mailbox delivery
for 10 % and a dead outbox item for 0.1 %; the schema's triggers fill the search index as
intake does. Then each query kind runs ``ConsoleTables.search`` (what the tracker page calls)
with random parameters drawn from the data, several rounds; p50 / p99 per kind are reported.

Run:  python benchmarks/bench_console_search.py [--packages 1000000] [--queries 200]
      [--engine sqlite|postgres|both] [--workdir DIR] [--dsn DSN] [--keep]
      [--pg-schema NAME] [--reuse] [--kinds "sender;subject word + sender"]
PostgreSQL uses ``--dsn`` or GATEWAY_TEST_POSTGRES_DSN, in a schema of its own (dropped
afterwards unless --keep, or named by --pg-schema). ``--reuse`` skips the fill when the store
(``--workdir``'s SQLite file, the ``--pg-schema`` schema) already holds packages, so a million
rows are built once per engine: it still migrates the store to the latest schema, then
measures. Prints a JSON report. Timings never gate tests.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gateway.config import Settings  # noqa: E402
from gateway.store.console_sql import ConsoleTables, SearchQuery  # noqa: E402
from gateway.store.engine import PostgresDialect, SqliteDialect  # noqa: E402
from gateway.store.sql import SqlStore  # noqa: E402

CONSOLE_SCHEMA = 11
"""The migration that adds the search index: the bulk rows go in before it, so its backfill
(set-based SQL) indexes them, as it does when an existing gateway upgrades."""


class _BeforeConsole(SqlStore):
    def _migrations(self) -> list[tuple[int, str, str]]:
        return [m for m in super()._migrations() if m[0] < CONSOLE_SCHEMA]


def _filled(store: SqlStore) -> bool:
    """Whether the store already holds packages (a kept store from an earlier run)."""
    with store._tx("read") as q:
        return q.one("SELECT 1 AS one FROM packages LIMIT 1") is not None


def _open(settings: Settings, *, before_console: bool) -> SqlStore:
    dialect: SqliteDialect | PostgresDialect
    if settings.uses_postgres:
        dialect = PostgresDialect(settings.database_dsn)
    else:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        dialect = SqliteDialect(settings.sqlite_path)
    if before_console:
        store: SqlStore = _BeforeConsole(dialect)
        store.migrate()
        return store
    return SqlStore(dialect)

START_US = 1_704_067_200_000_000  # 2024-01-01T00:00:00Z
SPAN_US = 2 * 365 * 86_400 * 1_000_000
DAY_US = 86_400 * 1_000_000
_VOCABULARY = (
    "về việc triển khai thực hiện kế hoạch báo cáo tình hình kết quả công tác phòng chống "
    "dịch bệnh tổ chức hội nghị tổng kết năm đánh giá phong trào thi đua khen thưởng cán bộ "
    "công chức viên chức tuyển dụng đào tạo bồi dưỡng nâng cao năng lực chuyển đổi số quốc "
    "gia chính quyền điện tử văn bản liên thông trục dữ liệu đất đai xây dựng giao thông "
    "thủy lợi nông nghiệp nông thôn mới môi trường tài nguyên khoáng sản rừng biển đảo quốc "
    "phòng an ninh trật tự an toàn xã hội giáo dục y tế văn hóa thể thao du lịch lao động "
    "thương binh người có công giảm nghèo bảo hiểm thuế ngân sách đầu tư công kinh tế hợp "
    "tác xã doanh nghiệp thương mại xuất nhập khẩu khoa học công nghệ thông tin truyền "
    "thông báo chí tôn giáo dân tộc biên giới cải cách hành chính thủ tục một cửa dịch vụ "
    "trực tuyến kiểm tra thanh tra giải quyết khiếu nại tố cáo phòng chống tham nhũng lãng "
    "phí tiết kiệm quy hoạch đô thị nhà ở giải phóng mặt bằng bồi thường hỗ trợ tái định cư "
    "điều chỉnh bổ sung sửa đổi quy định hướng dẫn chỉ đạo điều hành phân công nhiệm vụ "
    "thành lập ban chỉ đạo kiện toàn tổ công tác giao chỉ tiêu phê duyệt dự án đề án chương "
    "trình mục tiêu phát triển bền vững ứng phó biến đổi khí hậu thiên tai lũ lụt hạn hán "
    "xâm nhập mặn cấp nước sinh hoạt điện chiếu sáng viễn thông bưu chính tem thư lưu trữ "
    "hồ sơ tài liệu con dấu chữ ký số chứng thư tổng hợp số liệu thống kê điều tra dân số "
    "hộ gia đình quý tháng tuần"
)
WORDS = tuple(_VOCABULARY.split())
NOTATIONS = ("UBND-VP", "UBND-KT", "SNV-TCBC", "STC-NS", "SYT-NV", "SGDĐT-VP", "VPCP-KSTT",
             "BNV-CCVC", "QĐ-UBND", "KH-UBND", "TB-VP", "CV-STTTT")


def _agency(n: int) -> str:
    return f"000.{n // 100 % 100:02d}.{n % 100:02d}.H{53 + n // 10_000:02d}"


def _rows(count: int, seed: int) -> Iterator[tuple[Any, ...]]:
    rng = random.Random(seed)
    weights = list(itertools.accumulate(1 / (rank + 1) for rank in range(len(WORDS))))
    # Zipf: a few words are common, most are rare
    for i in range(count):
        sender = _agency(rng.randrange(500))
        recipients = sorted({_agency(500 + rng.randrange(2000)) for _ in range(rng.randint(1, 3))})
        code = f"{rng.randint(1, 9999)}/{rng.choice(NOTATIONS)}"
        subject = " ".join(rng.choices(WORDS, cum_weights=weights, k=rng.randint(6, 16)))
        received = START_US + int(i / count * SPAN_US) + rng.randrange(1_000_000)
        document_id = f"{sender},{2024 + i * 2 // count}/01/01,{code}"
        summary = json.dumps(
            {"kind": "document", "document_id": document_id, "code": code, "subject": subject,
             "to": [{"organ_id": r, "name": ""} for r in recipients]},
            ensure_ascii=False,
        )
        yield (f"p{i:09d}", "document", sender, document_id, f"d{i:09d}", "c" * 64, "b" * 64,
               10_000, received, summary, "[]", recipients[0])


def fill(store: SqlStore, count: int, seed: int) -> float:
    """Bulk-insert ``count`` packages into a store before schema 11; returns the seconds."""
    started = time.perf_counter()
    batch = 20_000
    rows = _rows(count, seed)
    done = 0
    while done < count:
        chunk = [next(rows) for _ in range(min(batch, count - done))]
        with store._tx() as q:
            cursor: Any = q.cursor
            columns = (
                "id, kind, sender, document_id, dedupe_key, content_sha256, blob_sha256, "
                "size, received_at, summary_json, warnings_json"
            )
            if store.dialect.name == "postgres":  # COPY: one stream, not a round trip a row
                with cursor.copy(f"COPY packages ({columns}) FROM STDIN") as copy:
                    for row in chunk:
                        copy.write_row(row[:11])
            else:
                cursor.executemany(
                    f"INSERT INTO packages ({columns}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [row[:11] for row in chunk],
                )
            pending = [r for r in chunk if int(r[0][1:]) % 10 == 0]
            cursor.executemany(
                q.dialect.sql(
                    "INSERT INTO deliveries (package_id, recipient, kind, state, created_at) "
                    "VALUES (?, ?, 'document', 'pending', ?)"
                ),
                [(r[0], r[11], r[8]) for r in pending],
            )
            dead = [r for r in chunk if int(r[0][1:]) % 1000 == 7]
            cursor.executemany(
                q.dialect.sql(
                    "INSERT INTO outbox (package_id, upstream, kind, sender, recipients, "
                    "document_key, blob_sha256, size, state, attempts, next_attempt_at, "
                    "created_at, updated_at) VALUES (?, 'national', 'document', ?, ?, ?, ?, "
                    "10, 'dead', 20, 0, ?, ?)"
                ),
                [(r[0], r[2], r[11], r[3], "b" * 64, r[8], r[8]) for r in dead],
            )
        done += len(chunk)
        print(f"  {done:>9} packages", file=sys.stderr, end="\r")
    print(file=sys.stderr)
    return time.perf_counter() - started


def _kinds(rng: random.Random, count: int) -> dict[str, Callable[[], SearchQuery]]:
    sample_ids = sorted(rng.sample(range(count), min(50, count)))
    known_rows = _known_rows(count, sample_ids)

    def day(width_days: int) -> tuple[int, int]:
        start = START_US + rng.randrange(SPAN_US - width_days * DAY_US)
        return start, start + width_days * DAY_US

    def words(n: int) -> str:
        return " ".join(rng.sample(WORDS[:120], n))

    return {
        "document_id": lambda: SearchQuery(document_id=rng.choice(known_rows)[3]),
        "code (exact)": lambda: SearchQuery(code=rng.choice(known_rows)[6]),
        "code (prefix)": lambda: SearchQuery(code=f"{rng.randint(1, 9999)}/"),
        "subject, 1 word": lambda: SearchQuery(words=words(1)),
        "subject, 2 words": lambda: SearchQuery(words=words(2)),
        "subject, 3 words": lambda: SearchQuery(words=words(3)),
        "sender": lambda: SearchQuery(sender=_agency(rng.randrange(500))),
        "sender + month": lambda: SearchQuery(
            sender=_agency(rng.randrange(500)), since=(d := day(30))[0], until=d[1]
        ),
        "recipient": lambda: SearchQuery(recipient=_agency(500 + rng.randrange(2000))),
        "recipient + month": lambda: SearchQuery(
            recipient=_agency(500 + rng.randrange(2000)), since=(d := day(30))[0], until=d[1]
        ),
        "date range (one day)": lambda: SearchQuery(since=(d := day(1))[0], until=d[1]),
        "state = dead": lambda: SearchQuery(state="dead"),
        "state = pending + week": lambda: SearchQuery(
            state="pending", since=(d := day(7))[0], until=d[1]
        ),
        "subject word + sender": lambda: SearchQuery(
            words=words(1), sender=_agency(rng.randrange(500))
        ),
        "subject word + recipient": lambda: SearchQuery(
            words=words(1), recipient=_agency(500 + rng.randrange(2000))
        ),
    }


SEED = 20261202


def _known_rows(count: int, indexes: list[int]) -> list[tuple[Any, ...]]:
    """Rows the data holds (document ids and full codes to look up), with the code at [6]."""
    wanted = set(indexes)
    found = []
    for i, row in enumerate(_rows(count, SEED)):
        if i in wanted:
            code = json.loads(row[9])["code"]
            found.append((*row[:6], code))
            if len(found) == len(wanted):
                break
    return found


def measure(
    store: SqlStore, count: int, queries: int, rounds: int, only: frozenset[str] = frozenset()
) -> dict[str, Any]:
    tables = ConsoleTables(store)
    rng = random.Random(7)
    kinds = _kinds(rng, count)
    report: dict[str, Any] = {}
    for name, make in kinds.items():
        if only and name not in only:
            continue
        p50s, p99s, hits = [], [], []
        for _round in range(rounds):
            timings = []
            for _ in range(queries):
                query = make()
                started = time.perf_counter()
                found = tables.search(query)
                timings.append((time.perf_counter() - started) * 1000)
                hits.append(len(found))
            timings.sort()
            p50s.append(statistics.median(timings))
            p99s.append(timings[min(len(timings) - 1, int(len(timings) * 0.99))])
        report[name] = {
            "p50_ms": round(statistics.median(p50s), 2),
            "p99_ms": round(statistics.median(p99s), 2),
            "mean_hits": round(statistics.mean(hits), 1),
        }
        print(f"  {name:<24} p50 {report[name]['p50_ms']:>8} ms  p99 "
              f"{report[name]['p99_ms']:>8} ms", file=sys.stderr)
    return report


def _postgres_settings(
    dsn: str, workdir: Path, schema: str = ""
) -> tuple[Settings, Callable[[], None]]:
    """Settings on a schema of the server (a new one unless named); ``drop`` removes it."""
    import psycopg

    schema = schema or f"edoc_bench_console_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(dsn, autocommit=True) as admin:
        admin.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
    separator = "&" if "?" in dsn else "?"
    scoped = f"{dsn}{separator}options={quote(f'-csearch_path={schema}')}"

    def drop() -> None:
        with psycopg.connect(dsn, autocommit=True) as admin:
            admin.execute(f'DROP SCHEMA "{schema}" CASCADE')

    return Settings(data_dir=workdir / "pg", database_dsn=scoped), drop


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else "")
    parser.add_argument("--packages", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=200, help="per kind and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--engine", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--dsn", default=os.environ.get("GATEWAY_TEST_POSTGRES_DSN", ""))
    parser.add_argument("--keep", action="store_true", help="keep the filled databases")
    parser.add_argument("--pg-schema", default="", help="PostgreSQL schema to use (kept)")
    parser.add_argument("--reuse", action="store_true", help="skip the fill of a filled store")
    parser.add_argument("--kinds", default="", help="query kinds, separated by ; (default all)")
    args = parser.parse_args(argv)
    only = frozenset(k.strip() for k in args.kinds.split(";") if k.strip())
    engines = ("sqlite", "postgres") if args.engine == "both" else (args.engine,)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench-console-"))
    result: dict[str, Any] = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.system()}",
        "python": platform.python_version(),
        "packages": args.packages,
        "queries_per_kind": args.queries * args.rounds,
    }
    for engine in engines:
        drop: Callable[[], None] = lambda: None  # noqa: E731
        if engine == "postgres":
            if not args.dsn:
                print("PostgreSQL: no --dsn and no GATEWAY_TEST_POSTGRES_DSN", file=sys.stderr)
                return 2
            settings, drop = _postgres_settings(args.dsn, workdir, args.pg_schema)
            if args.pg_schema:
                drop = lambda: None  # noqa: E731
        else:
            settings = Settings(data_dir=workdir / "sqlite")
        try:
            old = _open(settings, before_console=True)
            try:
                seconds = 0.0
                if not (args.reuse and _filled(old)):
                    print(f"{engine}: filling {args.packages} packages", file=sys.stderr)
                    seconds = fill(old, args.packages, SEED)
            finally:
                old.close()
            store = _open(settings, before_console=False)
            try:
                started = time.perf_counter()
                before = store.schema_version()
                latest = store.migrate()  # from 10, schema 11's backfill indexes every row
                with store._tx() as q:
                    q.run("ANALYZE")
                upgrade = time.perf_counter() - started
                print(f"{engine}: migration {before} -> {latest} took {upgrade:.1f} s",
                      file=sys.stderr)
                result[engine] = {
                    "schema": latest,
                    "fill_seconds": round(seconds, 1),
                    "upgrade_from": before,
                    "upgrade_seconds": round(upgrade, 1),
                    "kinds": measure(store, args.packages, args.queries, args.rounds, only),
                }
            finally:
                store.close()
        finally:
            if not args.keep:
                drop()
    print(json.dumps(result, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
