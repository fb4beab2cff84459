"""The data file's layout as numbered migrations; `migrate` brings any older file up to date in
place, in one transaction, and refuses a file written by a newer bot."""

from __future__ import annotations

import logging
import sqlite3

from bot.storage._records import StorageError

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "migrate", "schema_version"]

log = logging.getLogger(__name__)

# MIGRATIONS[n - 1] turns a version n - 1 file into version n. Append only: never edit a step
# that has shipped, add the next one.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    # 1: the dreams and their pictures
    (
        """CREATE TABLE jobs (
            id TEXT PRIMARY KEY,
            guild_id INTEGER,
            channel_id INTEGER,
            user_id INTEGER NOT NULL,
            params TEXT NOT NULL,
            input_ref TEXT,
            output_ref TEXT,
            status TEXT NOT NULL,
            created_at REAL NOT NULL,
            started_at REAL,
            finished_at REAL,
            error TEXT
        )""",
    ),
    # 2: what the result buttons, history and restarts need; per-server settings
    (
        "ALTER TABLE jobs ADD COLUMN kind TEXT NOT NULL DEFAULT 'dream'",
        "ALTER TABLE jobs ADD COLUMN parent_id TEXT",
        "ALTER TABLE jobs ADD COLUMN origin_id TEXT",
        "ALTER TABLE jobs ADD COLUMN seconds REAL",
        "ALTER TABLE jobs ADD COLUMN output_filename TEXT",
        "ALTER TABLE jobs ADD COLUMN message_id INTEGER",
        "ALTER TABLE jobs ADD COLUMN interaction_id INTEGER",
        "ALTER TABLE jobs ADD COLUMN interaction_token TEXT",
        "ALTER TABLE jobs ADD COLUMN max_bytes INTEGER",
        "ALTER TABLE jobs ADD COLUMN deleted INTEGER NOT NULL DEFAULT 0",
        "UPDATE jobs SET origin_id = id WHERE origin_id IS NULL",
        "UPDATE jobs SET seconds = finished_at - started_at WHERE status = 'done'",
        "CREATE INDEX jobs_by_member ON jobs (guild_id, user_id, created_at)",
        "CREATE INDEX jobs_by_state ON jobs (status, created_at)",
        "CREATE INDEX jobs_by_age ON jobs (created_at)",
        """CREATE TABLE server_settings (
            guild_id INTEGER PRIMARY KEY,
            settings TEXT NOT NULL,
            updated_at REAL NOT NULL,
            updated_by INTEGER
        )""",
    ),
    # 3: moving dreams: what the job makes ("dream", "animated", "zoom"), its animation settings
    # (JSON) and the note shown after its result line, so a restart resumes it as it was asked
    (
        "ALTER TABLE jobs ADD COLUMN job_kind TEXT NOT NULL DEFAULT 'dream'",
        "ALTER TABLE jobs ADD COLUMN animation TEXT",
        "ALTER TABLE jobs ADD COLUMN note TEXT",
    ),
    # 4: the guide picture a dream was steered towards, kept like its input
    ("ALTER TABLE jobs ADD COLUMN guide_ref TEXT",),
    # 5: the member's picture was a spoiler, so its dreams are shown as spoilers too
    ("ALTER TABLE jobs ADD COLUMN spoiler INTEGER NOT NULL DEFAULT 0",),
)
SCHEMA_VERSION = len(MIGRATIONS)


def schema_version(connection: sqlite3.Connection) -> int:
    """The file's version; 0 for a new, empty file."""
    found = connection.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'"
    ).fetchone()
    if found is None:
        return 0
    row = connection.execute("SELECT MAX(version) FROM schema_version").fetchone()
    return int(row[0] or 0)


def migrate(connection: sqlite3.Connection, *, target: int = SCHEMA_VERSION) -> int:
    """Apply the missing migrations up to ``target`` in one transaction; returns the old version.

    ``connection`` must be in autocommit mode (``isolation_level=None``).
    """
    connection.execute("BEGIN IMMEDIATE")
    try:
        current = schema_version(connection)
        if current > SCHEMA_VERSION:
            raise StorageError(
                f"the data file has schema version {current}, but this bot knows only up to "
                f"{SCHEMA_VERSION}: it was written by a newer version of the bot"
            )
        if current == 0:
            connection.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
        for version in range(current + 1, target + 1):
            for statement in MIGRATIONS[version - 1]:
                connection.execute(statement)
        if target > current:
            connection.execute("DELETE FROM schema_version")
            connection.execute("INSERT INTO schema_version (version) VALUES (?)", (target,))
        connection.execute("COMMIT")
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    if 0 < current < target:
        log.info("Upgraded the data file from schema version %d to %d", current, target)
    return current
