"""Group commit for SQLite: concurrent writers of one process share one transaction and one fsync.

SQLite lets one writer in at a time, and with ``synchronous=FULL`` every commit pays its own
WAL fsync while it holds the write lock. Here the writers of a process take turns on one
shared connection instead: each runs its statements inside a savepoint of the transaction
that is open, and the last one in line (no other writer waiting for its turn) commits for
all of them. Everyone in the batch leaves only after that commit has returned, so no caller
hears "done" (a receipt, a 200) before its own rows are durable, and nobody outside the batch
sees its rows before then either: until the commit they are an open transaction.

A writer whose block raises rolls back to its savepoint; the others' work in the batch is
kept. If SQLite itself abandoned the transaction (it does on a full disk or an I/O error),
every member of the batch gets the error. Batches are bounded (``MAX_BATCH``) so the write lock
is never held for long; PostgreSQL needs none of this, because its WAL writer already flushes
concurrent commits together.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from gateway.store.crash import crash_point

MAX_BATCH = 32


@dataclass
class _Batch:
    """One open transaction and the writers whose work is in it."""

    durable: bool  # committed with its fsync (``synchronous=FULL``)
    members: int = 0
    committed: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None


class GroupCommit:
    """The shared writer connection of one database file in one process."""

    def __init__(self, connect: Callable[[], sqlite3.Connection]) -> None:
        self._connect = connect
        self._connection: sqlite3.Connection | None = None
        self._pid = os.getpid()
        self._turn = threading.Lock()
        self._queue_lock = threading.Lock()
        self._queued = 0
        self._batch: _Batch | None = None
        self._owner: int | None = None  # the thread whose turn it is
        self.commits = 0  # commits made; read by tests

    @property
    def taken(self) -> bool:
        """A writer has its turn now."""
        return self._owner is not None

    @property
    def queued(self) -> int:
        """Writers waiting for their turn now."""
        with self._queue_lock:
            return self._queued

    @contextlib.contextmanager
    def write(self, durable: bool = True) -> Iterator[sqlite3.Cursor]:
        """A cursor inside the shared transaction; returns once the batch is committed.

        ``durable=False`` is for rows that may be lost in a crash (the replay cache): a batch
        made only of those commits without its fsync.
        """
        if self._owner == threading.get_ident():
            raise RuntimeError("a write transaction inside another on the same database")
        with self._queue_lock:
            self._queued += 1
        self._turn.acquire()
        self._owner = threading.get_ident()
        with self._queue_lock:
            self._queued -= 1
        try:
            batch = self._join(durable)
        except BaseException:
            self._release()
            raise
        connection = self._writer()
        cursor = connection.cursor()
        failure: BaseException | None = None
        try:
            cursor.execute("SAVEPOINT member")
            yield cursor
            cursor.execute("RELEASE member")
        except BaseException as exc:
            failure = exc
            self._undo(cursor, batch)
        else:
            batch.members += 1
        finally:
            cursor.close()
            self._leave(batch, failure is None)
        if failure is not None:
            raise failure

    def _release(self) -> None:
        self._owner = None
        self._turn.release()

    def _writer(self) -> sqlite3.Connection:
        """The shared connection; a forked child opens its own (never its parent's)."""
        if self._connection is None or self._pid != os.getpid():
            self._connection = self._connect()
            self._pid = os.getpid()
            self._batch = None  # a parent's open batch is the parent's
        return self._connection

    def _join(self, durable: bool) -> _Batch:
        """The open batch, or a new one (``BEGIN IMMEDIATE``: wait for other processes).

        SQLite fixes a commit's sync level before the transaction begins, so a durable writer
        does not join a batch of replay-cache rows: it commits that batch (no fsync) first.
        """
        connection = self._writer()
        if self._batch is not None and durable and not self._batch.durable:
            cached, self._batch = self._batch, None
            self._close(cached)
        if self._batch is None:
            connection.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
            connection.execute("BEGIN IMMEDIATE")
            self._batch = _Batch(durable)
        return self._batch

    def _undo(self, cursor: sqlite3.Cursor, batch: _Batch) -> None:
        """Take back one member's work; if SQLite dropped the whole transaction, say so."""
        connection = self._writer()
        try:
            if connection.in_transaction:
                cursor.execute("ROLLBACK TO member")
                cursor.execute("RELEASE member")
                return
        except sqlite3.Error as exc:
            batch.error = exc
        if batch.error is None:
            batch.error = sqlite3.OperationalError(
                "the database abandoned the shared transaction"
            )
        with contextlib.suppress(sqlite3.Error):
            connection.rollback()

    def _leave(self, batch: _Batch, succeeded: bool) -> None:
        """Hand the turn to the next writer, or commit the batch if nobody is waiting."""
        if batch.error is None and batch.members < MAX_BATCH and self.queued > 0:
            self._release()
            if succeeded:
                batch.committed.wait()
                if batch.error is not None:
                    raise sqlite3.OperationalError(f"the shared commit failed: {batch.error}")
            return
        self._batch = None
        try:
            self._close(batch)
        finally:
            self._release()
        if succeeded and batch.error is not None:
            raise batch.error

    def _close(self, batch: _Batch) -> None:
        """Commit (or roll back) ``batch`` and wake its members, whatever happens."""
        try:
            self._finish(batch)
        except BaseException as exc:  # not SQLite's own error: no member may think it kept
            batch.error = batch.error or exc
            raise
        finally:
            batch.committed.set()

    def _finish(self, batch: _Batch) -> None:
        connection = self._writer()
        if batch.error is not None or batch.members == 0 or not connection.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                connection.rollback()
            return
        if batch.members > 1:
            crash_point("group_commit.before")
        try:
            connection.execute("COMMIT")
            self.commits += 1
        except sqlite3.Error as exc:
            batch.error = exc
            with contextlib.suppress(sqlite3.Error):
                connection.rollback()
        if batch.members > 1 and batch.error is None:
            crash_point("group_commit.after")

    def close(self) -> None:
        with self._turn:
            if self._connection is not None:
                with contextlib.suppress(Exception):
                    self._connection.close()
                self._connection = None
