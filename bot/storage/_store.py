"""`Store`: the dreams, their pictures and the server settings in one SQLite file under the data
directory (pictures as files beside it), used from the event loop through one database thread."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import sqlite3
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from bot.jobs import JobKind
from bot.storage._records import (
    DreamKind,
    DreamRecord,
    DreamState,
    ServerSettings,
    StorageError,
    animation_from_json,
    animation_to_json,
    job_kind_from_text,
    params_from_json,
    params_to_json,
)
from bot.storage._schema import migrate
from engine import AnimationParams, DreamParams, ZoomParams

__all__ = ["DATABASE_FILE", "PICTURES_DIR", "Store"]

log = logging.getLogger(__name__)

DATABASE_FILE = "dreams.sqlite3"
PICTURES_DIR = "pictures"

T = TypeVar("T")

_UNFINISHED = (DreamState.QUEUED.value, DreamState.RUNNING.value)


def _record(row: sqlite3.Row) -> DreamRecord:
    job_kind = job_kind_from_text(row["job_kind"])
    return DreamRecord(
        id=row["id"],
        guild_id=row["guild_id"],
        channel_id=row["channel_id"],
        user_id=row["user_id"],
        kind=DreamKind(row["kind"]),
        parent_id=row["parent_id"],
        origin_id=row["origin_id"] or row["id"],
        params=params_from_json(row["params"]),
        state=DreamState(row["status"]),
        created_at=row["created_at"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        seconds=row["seconds"],
        error=row["error"],
        has_input=row["input_ref"] is not None,
        has_output=row["output_ref"] is not None,
        output_filename=row["output_filename"],
        message_id=row["message_id"],
        interaction_id=row["interaction_id"],
        interaction_token=row["interaction_token"],
        max_bytes=row["max_bytes"],
        deleted=bool(row["deleted"]),
        job_kind=job_kind,
        animation=animation_from_json(job_kind, row["animation"]),
        note=row["note"],
        has_guide=row["guide_ref"] is not None,
        spoiler=bool(row["spoiler"]),
    )


class Store:
    """The bot's memory. Open it with ``await Store.open(data_dir)``; every method is a coroutine
    that runs in the store's own thread (SQLite and file I/O stay off the event loop)."""

    def __init__(
        self,
        connection: sqlite3.Connection,
        executor: ThreadPoolExecutor,
        *,
        pictures: Path,
        clock: Callable[[], float],
    ) -> None:
        self._db = connection
        self._executor = executor
        self.pictures = pictures
        self._clock = clock
        self._closed = False

    @classmethod
    async def open(cls, data_dir: Path, *, clock: Callable[[], float] = time.time) -> Store:
        """Open (or create) ``data_dir/dreams.sqlite3``, upgrading an older file in place."""
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dream-store")

        def connect() -> sqlite3.Connection:
            data_dir.mkdir(parents=True, exist_ok=True)
            (data_dir / PICTURES_DIR).mkdir(exist_ok=True)
            connection = sqlite3.connect(data_dir / DATABASE_FILE, isolation_level=None)
            try:
                connection.row_factory = sqlite3.Row
                connection.execute("PRAGMA journal_mode = WAL")
                connection.execute("PRAGMA busy_timeout = 5000")
                migrate(connection)
            except BaseException:
                connection.close()
                raise
            return connection

        try:
            connection = await asyncio.get_running_loop().run_in_executor(executor, connect)
        except sqlite3.DatabaseError as error:
            executor.shutdown(wait=False)
            raise StorageError(f"{data_dir / DATABASE_FILE} is not usable: {error}") from error
        except BaseException:
            executor.shutdown(wait=False)
            raise
        return cls(connection, executor, pictures=data_dir / PICTURES_DIR, clock=clock)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        await asyncio.get_running_loop().run_in_executor(self._executor, self._db.close)
        self._executor.shutdown(wait=True)

    async def _run(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        if self._closed:
            raise StorageError("the store is closed")
        call = functools.partial(function, *args, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(self._executor, call)

    # ---- dreams ---------------------------------------------------------------------------------

    async def add(
        self,
        *,
        user_id: int,
        guild_id: int | None,
        channel_id: int | None,
        params: DreamParams,
        picture: bytes,
        kind: DreamKind = DreamKind.DREAM,
        parent: DreamRecord | None = None,
        interaction_id: int | None = None,
        interaction_token: str | None = None,
        max_bytes: int | None = None,
        job_kind: JobKind = JobKind.DREAM,
        animation: AnimationParams | ZoomParams | None = None,
        note: str | None = None,
        guide: bytes | None = None,
        spoiler: bool = False,
    ) -> DreamRecord:
        """Record a new queued dream and keep its input (and guide) picture; ``job_kind``,
        ``animation`` and ``note`` are what a moving dream needs to be run again; ``spoiler``:
        the picture is shown only as a spoiler."""
        return await self._run(
            self._add,
            user_id=user_id,
            guild_id=guild_id,
            channel_id=channel_id,
            params=params,
            picture=picture,
            kind=kind,
            parent=parent,
            interaction_id=interaction_id,
            interaction_token=interaction_token,
            max_bytes=max_bytes,
            job_kind=job_kind,
            animation=animation,
            note=note,
            guide=guide,
            spoiler=spoiler,
        )

    def _add(
        self,
        *,
        user_id: int,
        guild_id: int | None,
        channel_id: int | None,
        params: DreamParams,
        picture: bytes,
        kind: DreamKind,
        parent: DreamRecord | None,
        interaction_id: int | None,
        interaction_token: str | None,
        max_bytes: int | None,
        job_kind: JobKind,
        animation: AnimationParams | ZoomParams | None,
        note: str | None,
        guide: bytes | None,
        spoiler: bool,
    ) -> DreamRecord:
        dream_id = uuid.uuid4().hex
        ref = self._write_picture(f"{dream_id}.in", picture)
        guide_ref = self._write_picture(f"{dream_id}.guide", guide) if guide is not None else None
        try:
            self._db.execute(
                """INSERT INTO jobs (id, guild_id, channel_id, user_id, kind, parent_id, origin_id,
                       params, input_ref, status, created_at, interaction_id, interaction_token,
                       max_bytes, job_kind, animation, note, guide_ref, spoiler)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                (
                    dream_id,
                    guild_id,
                    channel_id,
                    user_id,
                    kind.value,
                    parent.id if parent else None,
                    parent.origin_id if parent else dream_id,
                    params_to_json(params),
                    ref,
                    DreamState.QUEUED.value,
                    self._clock(),
                    interaction_id,
                    interaction_token,
                    max_bytes,
                    job_kind.value,
                    animation_to_json(animation),
                    note,
                    guide_ref,
                    int(spoiler),
                ),
            )
        except BaseException:
            self._remove_picture(ref)
            self._remove_picture(guide_ref)
            raise
        found = self._get(dream_id)
        assert found is not None
        return found

    async def get(self, dream_id: str) -> DreamRecord | None:
        return await self._run(self._get, dream_id)

    def _get(self, dream_id: str) -> DreamRecord | None:
        row = self._db.execute("SELECT * FROM jobs WHERE id = ?", (dream_id,)).fetchone()
        return _record(row) if row is not None else None

    async def started(self, dream_id: str) -> None:
        """The dream left the queue and is being dreamed."""
        await self._run(
            self._execute,
            "UPDATE jobs SET status = ?, started_at = ? WHERE id = ?",
            (DreamState.RUNNING.value, self._clock(), dream_id),
        )

    async def requeue(self, dream_id: str) -> None:
        """The bot stops before the dream finished: it waits for the next start."""
        await self._run(
            self._execute,
            "UPDATE jobs SET status = ?, started_at = NULL WHERE id = ? AND status IN (?, ?)",
            (DreamState.QUEUED.value, dream_id, *_UNFINISHED),
        )

    async def finished(
        self, dream_id: str, *, picture: bytes, filename: str, seconds: float
    ) -> DreamRecord | None:
        """The dream is done: keep its result; its interaction token is no longer needed."""
        return await self._run(self._finished, dream_id, picture, filename, seconds)

    def _finished(
        self, dream_id: str, picture: bytes, filename: str, seconds: float
    ) -> DreamRecord | None:
        ref = self._write_picture(f"{dream_id}.out", picture)
        self._db.execute(
            """UPDATE jobs SET status = ?, output_ref = ?, output_filename = ?, seconds = ?,
                   finished_at = ?, interaction_token = NULL
               WHERE id = ?""",
            (DreamState.DONE.value, ref, filename, seconds, self._clock(), dream_id),
        )
        return self._get(dream_id)

    async def failed(self, dream_id: str, error: str) -> None:
        await self._run(
            self._execute,
            """UPDATE jobs SET status = ?, error = ?, finished_at = ?, interaction_token = NULL
               WHERE id = ?""",
            (DreamState.FAILED.value, error, self._clock(), dream_id),
        )

    async def delivered(self, dream_id: str, *, channel_id: int, message_id: int) -> None:
        """Remember the message that shows the result (for history links)."""
        await self._run(
            self._execute,
            "UPDATE jobs SET channel_id = ?, message_id = ? WHERE id = ?",
            (channel_id, message_id, dream_id),
        )

    async def delete(self, dream_id: str) -> None:
        """The member deleted the result: forget its pictures and its message."""
        await self._run(self._delete, dream_id)

    def _delete(self, dream_id: str) -> None:
        row = self._db.execute(
            "SELECT input_ref, output_ref, guide_ref FROM jobs WHERE id = ?", (dream_id,)
        ).fetchone()
        if row is None:
            return
        self._db.execute(
            """UPDATE jobs SET deleted = 1, input_ref = NULL, output_ref = NULL, guide_ref = NULL,
                   message_id = NULL, interaction_token = NULL
               WHERE id = ?""",
            (dream_id,),
        )
        for ref in row:
            self._remove_picture(ref)

    async def input_picture(self, dream_id: str) -> bytes | None:
        """The picture the dream started from; None once it was deleted."""
        return await self._run(self._picture, dream_id, "input_ref")

    async def output_picture(self, dream_id: str) -> bytes | None:
        """The dreamed picture; None if it is not done or was deleted."""
        return await self._run(self._picture, dream_id, "output_ref")

    async def guide_picture(self, dream_id: str) -> bytes | None:
        """The guide picture the dream was steered towards; None without one or once deleted."""
        return await self._run(self._picture, dream_id, "guide_ref")

    def _picture(self, dream_id: str, column: str) -> bytes | None:
        row = self._db.execute(f"SELECT {column} FROM jobs WHERE id = ?", (dream_id,)).fetchone()
        if row is None or row[0] is None:
            return None
        try:
            return (self.pictures / str(row[0])).read_bytes()
        except FileNotFoundError:
            log.warning("Picture %s of dream %s is missing", row[0], dream_id)
            return None

    async def by_token(self, token: str) -> DreamRecord | None:
        """The unfinished dream answered through this interaction token, if any."""
        records = await self._run(
            self._records,
            "SELECT * FROM jobs WHERE interaction_token = ? AND status IN (?, ?) LIMIT 1",
            (token, *_UNFINISHED),
        )
        return records[0] if records else None

    async def unfinished(self) -> list[DreamRecord]:
        """Dreams queued or running when the bot stopped, oldest first."""
        return await self._run(
            self._records,
            "SELECT * FROM jobs WHERE status IN (?, ?) AND deleted = 0 ORDER BY created_at, rowid",
            _UNFINISHED,
        )

    async def history(
        self, *, guild_id: int | None, user_id: int, limit: int = 10
    ) -> list[DreamRecord]:
        """A member's latest finished dreams in one server (or in DMs), newest first."""
        return await self._run(
            self._records,
            """SELECT * FROM jobs WHERE guild_id IS ? AND user_id = ? AND status = ?
                   AND deleted = 0
               ORDER BY created_at DESC, rowid DESC LIMIT ?""",
            (guild_id, user_id, DreamState.DONE.value, limit),
        )

    async def recent_seconds(self, limit: int = 20) -> list[float]:
        """How long the latest finished dreams took the engine, newest first."""
        rows = await self._run(
            self._rows,
            """SELECT seconds FROM jobs WHERE status = ? AND seconds IS NOT NULL
               ORDER BY finished_at DESC LIMIT ?""",
            (DreamState.DONE.value, limit),
        )
        return [float(row[0]) for row in rows]

    async def purge(self, *, older_than_s: float, now: float | None = None) -> int:
        """Delete the pictures of dreams asked for more than ``older_than_s`` seconds ago.

        The dreams' records stay (for /dream-history and Info). Returns the files deleted.
        """
        return await self._run(self._purge, older_than_s, now)

    def _purge(self, older_than_s: float, now: float | None) -> int:
        cutoff = (self._clock() if now is None else now) - older_than_s
        rows = self._db.execute(
            """SELECT id, input_ref, output_ref, guide_ref FROM jobs
               WHERE created_at < ? AND (input_ref IS NOT NULL OR output_ref IS NOT NULL
                   OR guide_ref IS NOT NULL)""",
            (cutoff,),
        ).fetchall()
        deleted = 0
        for dream_id, *refs in rows:
            self._db.execute(
                """UPDATE jobs SET input_ref = NULL, output_ref = NULL, guide_ref = NULL
                   WHERE id = ?""",
                (dream_id,),
            )
            deleted += sum(self._remove_picture(ref) for ref in refs)
        return deleted

    # ---- server settings ------------------------------------------------------------------------

    async def server_settings(self, guild_id: int) -> ServerSettings:
        rows = await self._run(
            self._rows, "SELECT settings FROM server_settings WHERE guild_id = ?", (guild_id,)
        )
        return ServerSettings.from_json(rows[0][0]) if rows else ServerSettings()

    async def save_server_settings(
        self, guild_id: int, settings: ServerSettings, *, by: int | None = None
    ) -> None:
        await self._run(
            self._execute,
            """INSERT INTO server_settings (guild_id, settings, updated_at, updated_by)
               VALUES (?, ?, ?, ?)
               ON CONFLICT (guild_id) DO UPDATE SET settings = excluded.settings,
                   updated_at = excluded.updated_at, updated_by = excluded.updated_by""",
            (guild_id, settings.to_json(), self._clock(), by),
        )

    # ---- in the store's thread ------------------------------------------------------------------

    def _execute(self, sql: str, parameters: tuple[Any, ...]) -> None:
        self._db.execute(sql, parameters)

    def _rows(self, sql: str, parameters: tuple[Any, ...]) -> list[sqlite3.Row]:
        return self._db.execute(sql, parameters).fetchall()

    def _records(self, sql: str, parameters: tuple[Any, ...]) -> list[DreamRecord]:
        return [_record(row) for row in self._rows(sql, parameters)]

    def _write_picture(self, name: str, data: bytes) -> str:
        path = self.pictures / name
        temporary = path.with_name(name + ".tmp")
        temporary.write_bytes(data)
        os.replace(temporary, path)
        return name

    def _remove_picture(self, ref: str | None) -> bool:
        if ref is None:
            return False
        with contextlib.suppress(FileNotFoundError):
            (self.pictures / ref).unlink()
            return True
        return False
