"""Group commit on a real SQLite file: writers that meet share one commit, and nobody hears
"done" (or sees the rows) before that commit is durable. A crash in the middle of a grouped
commit leaves all of the batch or none of it."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from gateway.store.engine import SqliteDialect
from gateway.store.group_commit import GroupCommit

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def database(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "group.sqlite"
    connection = SqliteDialect(path).connect()
    connection.execute("CREATE TABLE parents (id INTEGER PRIMARY KEY)")
    connection.execute(
        "CREATE TABLE rows (name TEXT PRIMARY KEY, parent INTEGER"
        " REFERENCES parents (id) DEFERRABLE INITIALLY DEFERRED)"
    )
    connection.close()
    yield path


def _names(path: Path) -> set[str]:
    connection = sqlite3.connect(path)
    try:
        return {row[0] for row in connection.execute("SELECT name FROM rows")}
    finally:
        connection.close()


def _wait_for(condition: Callable[[], bool]) -> None:
    """Poll a condition the other thread makes true; the test's own timeout bounds it."""
    deadline = time.monotonic() + 30
    while not condition():
        assert time.monotonic() < deadline, "the other writer never queued"
        time.sleep(0.001)


def _meeting(
    group: GroupCommit,
    first: Callable[[sqlite3.Cursor], None],
    second: Callable[[sqlite3.Cursor], None],
    first_durable: bool = True,
) -> dict[str, BaseException | None]:
    """The first writer holds its turn until the second is queued, so the two share a batch."""
    outcome: dict[str, BaseException | None] = {}

    def run(name: str, body: Callable[[sqlite3.Cursor], None], hold: bool) -> None:
        try:
            with group.write(durable=first_durable or not hold) as cursor:
                body(cursor)
                if hold:
                    _wait_for(lambda: group.queued >= 1)
            outcome[name] = None
        except BaseException as exc:  # the test asserts on it
            outcome[name] = exc

    one = threading.Thread(target=run, args=("first", first, True))
    one.start()
    _wait_for(lambda: group.taken)  # the first writer has its turn
    two = threading.Thread(target=run, args=("second", second, False))
    two.start()
    one.join(60)
    two.join(60)
    return outcome


def _insert(name: str, parent: int | None = None) -> Callable[[sqlite3.Cursor], None]:
    def insert(cursor: sqlite3.Cursor) -> None:
        cursor.execute("INSERT INTO rows VALUES (?, ?)", (name, parent))

    return insert


def test_two_writers_that_meet_share_one_commit(database: Path) -> None:
    group = GroupCommit(lambda: SqliteDialect(database).connect(shared=True))
    seen_by_second: list[set[str]] = []

    def second(cursor: sqlite3.Cursor) -> None:
        cursor.execute("INSERT INTO rows VALUES ('b', NULL)")
        seen_by_second.append(_names(database))  # another connection, mid-batch

    outcome = _meeting(group, _insert("a"), second)
    assert outcome == {"first": None, "second": None}
    assert group.commits == 1
    assert seen_by_second == [set()]  # the first writer's row was not visible before the commit
    assert _names(database) == {"a", "b"}
    with group.write() as cursor:  # alone: a batch of one
        cursor.execute("INSERT INTO rows VALUES ('c', NULL)")
    assert group.commits == 2 and _names(database) == {"a", "b", "c"}
    group.close()


def test_a_durable_writer_does_not_join_a_batch_of_cache_rows(database: Path) -> None:
    """A replay-cache batch commits without fsync; the durable writer gets a batch of its own."""
    group = GroupCommit(lambda: SqliteDialect(database).connect(shared=True))
    outcome = _meeting(group, _insert("nonce"), _insert("package"), first_durable=False)
    assert outcome == {"first": None, "second": None}
    assert group.commits == 2
    assert _names(database) == {"nonce", "package"}
    group.close()


def test_a_writer_that_fails_takes_back_only_its_own_rows(database: Path) -> None:
    group = GroupCommit(lambda: SqliteDialect(database).connect(shared=True))

    def failing(cursor: sqlite3.Cursor) -> None:
        cursor.execute("INSERT INTO rows VALUES ('b', NULL)")
        raise ValueError("the caller changed its mind")

    outcome = _meeting(group, _insert("a"), failing)
    assert outcome["first"] is None
    assert isinstance(outcome["second"], ValueError)
    assert _names(database) == {"a"}
    group.close()


def test_a_failed_commit_fails_every_member_and_keeps_nothing(database: Path) -> None:
    group = GroupCommit(lambda: SqliteDialect(database).connect(shared=True))
    # The second row names a parent that does not exist: the deferred check fails at COMMIT.
    outcome = _meeting(group, _insert("a"), _insert("b", parent=7))
    assert isinstance(outcome["first"], sqlite3.Error)
    assert isinstance(outcome["second"], sqlite3.Error)
    assert _names(database) == set()
    with group.write() as cursor:  # the connection is usable again
        cursor.execute("INSERT INTO rows VALUES ('c', NULL)")
    assert _names(database) == {"c"}
    group.close()


def test_a_write_inside_a_write_on_one_thread_is_refused_not_a_hang(database: Path) -> None:
    group = GroupCommit(lambda: SqliteDialect(database).connect(shared=True))
    with group.write() as cursor:
        cursor.execute("INSERT INTO rows VALUES ('a', NULL)")
        with pytest.raises(RuntimeError, match="inside another"), group.write():
            pass
    assert _names(database) == {"a"}
    group.close()


# The fork is the point (gunicorn forks its workers from a process that may hold a store); the
# child touches only the connection it opens itself, so Python 3.12's warning about forking a
# process with threads (pytest-xdist's) does not apply.
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_a_forked_child_writes_on_a_connection_of_its_own(database: Path) -> None:
    """A SQLite connection must never cross a fork: the child opens its own."""
    opened: list[int] = []

    def connect() -> sqlite3.Connection:
        opened.append(os.getpid())
        return SqliteDialect(database).connect(shared=True)

    group = GroupCommit(connect)
    with group.write() as cursor:
        cursor.execute("INSERT INTO rows VALUES ('parent', NULL)")
    child = os.fork()
    if child == 0:  # the child: write, then leave without running the parent's cleanup
        code = 1
        try:
            with group.write() as cursor:
                cursor.execute("INSERT INTO rows VALUES ('child', NULL)")
            code = 0 if opened == [os.getppid(), os.getpid()] else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    with group.write() as cursor:  # the parent's connection still works
        cursor.execute("INSERT INTO rows VALUES ('parent again', NULL)")
    assert _names(database) == {"parent", "child", "parent again"}
    assert opened == [os.getpid()]  # the parent kept its one connection
    group.close()


_WRITERS = """
import sys, threading, time
from pathlib import Path
from gateway.store.engine import SqliteDialect
from gateway.store.group_commit import GroupCommit

path = Path(sys.argv[1])
group = GroupCommit(lambda: SqliteDialect(path).connect(shared=True))

def write(name, hold):
    with group.write() as cursor:
        cursor.execute("INSERT INTO rows VALUES (?, NULL)", (name,))
        while hold and group.queued < 1:
            time.sleep(0.001)
    print("done", name, flush=True)  # what a client would be told

one = threading.Thread(target=write, args=("a", True))
one.start()
while not group.taken:
    time.sleep(0.001)
two = threading.Thread(target=write, args=("b", False))
two.start()
one.join()
two.join()
"""


@pytest.mark.slow
@pytest.mark.parametrize(
    ("point", "kept"), [("group_commit.before:1", set()), ("group_commit.after:1", {"a", "b"})]
)
def test_sigkill_in_a_grouped_commit_keeps_all_of_the_batch_or_none(
    database: Path, point: str, kept: set[str]
) -> None:
    env = {**os.environ, "GATEWAY_CRASH_POINT": point, "PYTHONPATH": str(ROOT)}
    killed = subprocess.run(
        [sys.executable, "-c", _WRITERS, str(database)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert killed.stdout == ""  # killed before any writer was told its rows were kept
    assert _names(database) == kept
