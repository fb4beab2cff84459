"""Tests for bot/storage: the SQLite store of dreams, pictures and server settings, its schema
migrations, and DreamParams as JSON."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.jobs import JobKind
from bot.storage import (
    DATABASE_FILE,
    PICTURES_DIR,
    SCHEMA_VERSION,
    DreamKind,
    DreamState,
    ServerSettings,
    StorageError,
    Store,
    _schema,
    params_from_json,
    params_to_json,
)
from engine import DreamParams, ZoomParams

DAY_S = 86_400.0


class Clock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def store(tmp_path: Path, clock: Clock) -> AsyncIterator[Store]:
    opened = await Store.open(tmp_path, clock=clock)
    yield opened
    await opened.close()


async def _add(store: Store, *, user: int = 7, guild: int | None = 1, seed: int = 0) -> str:
    record = await store.add(
        user_id=user,
        guild_id=guild,
        channel_id=2,
        params=DreamParams(steps=2, octaves=1, seed=seed),
        picture=f"picture {seed}".encode(),
        interaction_id=123,
        interaction_token="token",
    )
    return record.id


@pytest.mark.parametrize(
    "params",
    [
        DreamParams(),
        DreamParams(model="googlenet", layers=("eyes", "inception4c"), steps=3, seed=42),
        DreamParams(channels=(1, 5), dream_of="goldfish", class_weight=2.5, max_side=64),
        DreamParams(dream_of=7, jitter=0, octave_scale=1.2, strength=0.5),
    ],
)
def test_params_survive_json(params: DreamParams) -> None:
    """Every DreamParams field comes back from JSON as it was, tuples included."""
    assert params_from_json(params_to_json(params)) == params


def test_params_json_ignores_unknown_fields_and_refuses_bad_values() -> None:
    """A field a newer bot added is ignored; invalid or non-JSON parameters are a StorageError."""
    assert params_from_json('{"steps": 3, "from_the_future": 1}') == DreamParams(steps=3)
    with pytest.raises(StorageError):
        params_from_json('{"steps": 0}')
    with pytest.raises(StorageError):
        params_from_json("not json")


async def test_a_new_file_gets_the_latest_schema(store: Store, tmp_path: Path) -> None:
    """Opening an empty data dir creates the database (latest version) and the pictures folder."""
    assert (tmp_path / PICTURES_DIR).is_dir()
    with sqlite3.connect(tmp_path / DATABASE_FILE) as connection:
        assert _schema.schema_version(connection) == SCHEMA_VERSION
    connection.close()


async def test_a_dream_is_stored_with_its_input_picture(store: Store, clock: Clock) -> None:
    """add() keeps the picture as a file and a queued record with the token and parameters."""
    dream_id = await _add(store, seed=3)
    record = await store.get(dream_id)
    assert record is not None
    assert record.state is DreamState.QUEUED and record.kind is DreamKind.DREAM
    assert record.params == DreamParams(steps=2, octaves=1, seed=3)
    assert record.origin_id == dream_id and record.parent_id is None
    assert record.created_at == clock.now and record.interaction_token == "token"
    assert record.has_input and not record.has_output
    assert await store.input_picture(dream_id) == b"picture 3"
    assert await store.output_picture(dream_id) is None
    assert await store.get("0" * 32) is None


async def test_a_dream_moves_from_queued_to_done(store: Store, clock: Clock) -> None:
    """started, finished and delivered record the times, the result and its message."""
    dream_id = await _add(store)
    await store.started(dream_id)
    record = await store.get(dream_id)
    assert record is not None and record.state is DreamState.RUNNING
    clock.now += 5
    done = await store.finished(dream_id, picture=b"out", filename="dream.png", seconds=4.5)
    assert done is not None and done.state is DreamState.DONE
    assert done.seconds == 4.5 and done.finished_at == clock.now and done.has_output
    assert done.interaction_token is None  # no longer needed once answered
    assert await store.output_picture(dream_id) == b"out"
    await store.delivered(dream_id, channel_id=2, message_id=99)
    record = await store.get(dream_id)
    assert record is not None and record.message_url() == "https://discord.com/channels/1/2/99"
    assert await store.recent_seconds() == [4.5]


async def test_children_remember_their_parent_and_the_original(store: Store) -> None:
    """A button's dream records its parent, and the first dream as origin."""
    first = await store.get(await _add(store))
    assert first is not None
    child = await store.add(
        user_id=7,
        guild_id=1,
        channel_id=2,
        params=first.params,
        picture=b"out",
        kind=DreamKind.DEEPER,
        parent=first,
    )
    grandchild = await store.add(
        user_id=8,
        guild_id=1,
        channel_id=2,
        params=first.params,
        picture=b"in",
        kind=DreamKind.LAYER,
        parent=child,
    )
    assert (child.parent_id, child.origin_id) == (first.id, first.id)
    assert (grandchild.parent_id, grandchild.origin_id) == (child.id, first.id)
    assert grandchild.kind is DreamKind.LAYER


async def test_a_guide_picture_is_kept_with_its_dream_and_goes_with_it(store: Store) -> None:
    """A dream's guide picture is stored beside its input, read back, and removed by Delete."""
    record = await store.add(
        user_id=7, guild_id=1, channel_id=2, params=DreamParams(), picture=b"in", guide=b"guide"
    )
    plain = await store.get(await _add(store))
    assert record.has_guide and plain is not None and not plain.has_guide
    assert await store.guide_picture(record.id) == b"guide"
    assert await store.guide_picture(plain.id) is None
    await store.delete(record.id)
    gone = await store.get(record.id)
    assert gone is not None and not gone.has_guide
    assert await store.guide_picture(record.id) is None
    assert not [p for p in store.pictures.iterdir() if p.name.startswith(record.id)]


async def test_a_moving_dream_keeps_its_kind_settings_and_note(store: Store) -> None:
    """A zoom or animated dream is stored with what it makes, its settings and its note."""
    settings = ZoomParams(frames=6, zoom=0.04, rotate=0.0, steps=5, fps=12.0)
    record = await store.add(
        user_id=7,
        guild_id=1,
        channel_id=2,
        params=DreamParams(octaves=1),
        picture=b"in",
        job_kind=JobKind.ZOOM,
        animation=settings,
        note="a note",
    )
    found = await store.get(record.id)
    assert found is not None and found == record
    assert (found.job_kind, found.animation, found.note) == (JobKind.ZOOM, settings, "a note")
    still = await store.get(await _add(store))
    assert still is not None
    assert (still.job_kind, still.animation, still.note) == ("dream", None, None)


async def test_failed_and_requeued_dreams(store: Store) -> None:
    """failed keeps the reason; requeue puts an unfinished dream back for the next start."""
    broken, interrupted = await _add(store), await _add(store)
    await store.failed(broken, "the engine said no")
    record = await store.get(broken)
    assert record is not None and record.state is DreamState.FAILED
    assert record.error == "the engine said no" and record.interaction_token is None
    await store.started(interrupted)
    await store.requeue(interrupted)
    record = await store.get(interrupted)
    assert record is not None and record.state is DreamState.QUEUED and record.started_at is None
    await store.requeue(broken)  # a finished dream stays finished
    record = await store.get(broken)
    assert record is not None and record.state is DreamState.FAILED


async def test_unfinished_and_by_token(store: Store, clock: Clock) -> None:
    """unfinished lists queued and running dreams oldest first; by_token finds one by token."""
    ids = []
    for seed in range(3):
        ids.append(await _add(store, seed=seed))
        clock.now += 1
    await store.started(ids[1])
    await store.finished(ids[2], picture=b"x", filename="x.png", seconds=1)
    assert [r.id for r in await store.unfinished()] == ids[:2]
    found = await store.by_token("token")
    assert found is not None and found.id in ids[:2]
    assert await store.by_token("other") is None


async def test_history_is_per_member_and_server_newest_first(store: Store, clock: Clock) -> None:
    """history lists one member's finished dreams in one server, newest first, at most limit."""
    mine = []
    for seed in range(4):
        mine.append(await _add(store, seed=seed))
        await store.finished(mine[-1], picture=b"x", filename="x.png", seconds=1)
        clock.now += 1
    await _add(store, seed=9)  # still queued: not history
    other_server = await _add(store, guild=5)
    await store.finished(other_server, picture=b"x", filename="x.png", seconds=1)
    other_member = await _add(store, user=8)
    await store.finished(other_member, picture=b"x", filename="x.png", seconds=1)
    await store.delete(mine[3])
    history = await store.history(guild_id=1, user_id=7, limit=2)
    assert [r.id for r in history] == [mine[2], mine[1]]
    assert [r.id for r in await store.history(guild_id=5, user_id=7)] == [other_server]


async def test_purge_deletes_old_pictures_and_keeps_the_records(store: Store, clock: Clock) -> None:
    """Pictures of dreams older than the retention go (files and references); records stay."""
    old = await _add(store)
    await store.finished(old, picture=b"out", filename="x.png", seconds=1)
    clock.now += 3 * DAY_S
    recent = await _add(store)
    assert await store.purge(older_than_s=7 * DAY_S) == 0
    assert await store.purge(older_than_s=2 * DAY_S) == 2
    record = await store.get(old)
    assert record is not None and not record.has_input and not record.has_output
    assert await store.input_picture(old) is None and await store.output_picture(old) is None
    assert await store.input_picture(recent) is not None
    assert sorted(p.name for p in store.pictures.iterdir()) == [f"{recent}.in"]
    assert await store.purge(older_than_s=0, now=clock.now + 1) == 1


async def test_delete_forgets_the_pictures_and_the_message(store: Store) -> None:
    """delete() removes both pictures and the message link, and marks the dream deleted."""
    dream_id = await _add(store)
    await store.finished(dream_id, picture=b"out", filename="x.png", seconds=1)
    await store.delivered(dream_id, channel_id=2, message_id=3)
    await store.delete(dream_id)
    record = await store.get(dream_id)
    assert record is not None and record.deleted and record.message_id is None
    assert not list(store.pictures.iterdir())
    await store.delete("0" * 32)  # an unknown dream is no error


async def test_server_settings_round_trip(store: Store) -> None:
    """Settings are per server, saved whole and read back; an unknown server has none."""
    assert await store.server_settings(1) == ServerSettings()
    chosen = ServerSettings(
        allowed_channels=(10, 11),
        default_model="efficientnet_lite0",
        default_layer="eyes",
        max_side=256,
        max_steps=5,
        max_octaves=2,
        user_queue_limit=1,
        cooldown_s=30.0,
        allow_animations=False,
    )
    await store.save_server_settings(1, chosen, by=7)
    await store.save_server_settings(2, ServerSettings(max_steps=9))
    assert await store.server_settings(1) == chosen
    await store.save_server_settings(1, ServerSettings(max_steps=3), by=7)
    assert await store.server_settings(1) == ServerSettings(max_steps=3)
    assert await store.server_settings(2) == ServerSettings(max_steps=9)


def test_server_settings_json_drops_what_it_cannot_use() -> None:
    """Unknown keys, wrong types and out-of-range values fall back to "the bot's setting"."""
    text = (
        '{"allowed_channels": [1, "2", true], "max_steps": 0, "max_side": "big",'
        ' "cooldown_s": 5, "default_layer": " ", "new_setting": 1, "allow_animations": 0}'
    )
    assert ServerSettings.from_json(text) == ServerSettings(allowed_channels=(1,), cooldown_s=5.0)
    assert ServerSettings.from_json("[1, 2]") == ServerSettings()
    assert ServerSettings.from_json("{broken") == ServerSettings()


def _write_version_1(path: Path) -> None:
    """A data file as the first version of the schema wrote it, with one finished dream."""
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
        connection.execute("INSERT INTO schema_version VALUES (1)")
        connection.execute(
            """CREATE TABLE jobs (id TEXT PRIMARY KEY, guild_id INTEGER, channel_id INTEGER,
                user_id INTEGER NOT NULL, params TEXT NOT NULL, input_ref TEXT, output_ref TEXT,
                status TEXT NOT NULL, created_at REAL NOT NULL, started_at REAL,
                finished_at REAL, error TEXT)"""
        )
        connection.execute(
            "INSERT INTO jobs VALUES (?, 1, 2, 7, ?, ?, ?, 'done', 100.0, 101.0, 104.0, NULL)",
            ("a" * 32, params_to_json(DreamParams(seed=5)), "a.in", "a.out"),
        )
    connection.close()


async def test_an_old_file_is_upgraded_in_place(tmp_path: Path) -> None:
    """A version 1 file opens at the latest version, its dreams readable and buttons usable."""
    _write_version_1(tmp_path / DATABASE_FILE)
    (tmp_path / PICTURES_DIR).mkdir()
    (tmp_path / PICTURES_DIR / "a.out").write_bytes(b"old result")
    store = await Store.open(tmp_path)
    try:
        record = await store.get("a" * 32)
        assert record is not None and record.state is DreamState.DONE
        assert record.params == DreamParams(seed=5) and record.kind is DreamKind.DREAM
        assert record.origin_id == record.id and record.seconds == 3.0
        assert not record.deleted and record.message_id is None
        assert (record.job_kind, record.animation, record.note) == ("dream", None, None)
        assert await store.output_picture(record.id) == b"old result"
        await store.save_server_settings(1, ServerSettings(max_steps=4))
        assert (await store.server_settings(1)).max_steps == 4
    finally:
        await store.close()
    with sqlite3.connect(tmp_path / DATABASE_FILE) as connection:
        assert _schema.schema_version(connection) == SCHEMA_VERSION
        assert connection.execute("SELECT COUNT(*) FROM schema_version").fetchone() == (1,)
    connection.close()


async def test_a_version_2_file_learns_what_moving_dreams_need(tmp_path: Path) -> None:
    """Migration 3 adds job_kind, animation and note; version 2 dreams read as still dreams."""
    connection = sqlite3.connect(tmp_path / DATABASE_FILE, isolation_level=None)
    try:
        _schema.migrate(connection, target=2)
        connection.execute(
            """INSERT INTO jobs (id, user_id, params, status, created_at, origin_id)
               VALUES (?, 7, ?, 'queued', 100.0, ?)""",
            ("c" * 32, params_to_json(DreamParams(seed=2)), "c" * 32),
        )
    finally:
        connection.close()
    store = await Store.open(tmp_path)
    try:
        (record,) = await store.unfinished()
        assert record.params.seed == 2
        assert (record.job_kind, record.animation, record.note) == ("dream", None, None)
    finally:
        await store.close()
    with sqlite3.connect(tmp_path / DATABASE_FILE) as connection:
        assert _schema.schema_version(connection) == SCHEMA_VERSION == 5
    connection.close()


def test_a_failing_migration_leaves_the_file_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Migrations run in one transaction: a failing step leaves the old version intact."""
    path = tmp_path / DATABASE_FILE
    _write_version_1(path)
    broken = (*_schema.MIGRATIONS, ("CREATE TABLE extra (x)", "THIS IS NOT SQL"))
    monkeypatch.setattr(_schema, "MIGRATIONS", broken)
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        with pytest.raises(sqlite3.OperationalError):
            _schema.migrate(connection, target=len(broken))
        assert _schema.schema_version(connection) == 1
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master")}
        assert "server_settings" not in tables and "extra" not in tables
    finally:
        connection.close()


async def test_a_file_from_a_newer_bot_is_refused(tmp_path: Path) -> None:
    """A data file with a higher schema version than this bot knows is not touched."""
    with sqlite3.connect(tmp_path / DATABASE_FILE) as connection:
        connection.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
        connection.execute("INSERT INTO schema_version VALUES (?)", (SCHEMA_VERSION + 1,))
    connection.close()
    with pytest.raises(StorageError, match="newer version of the bot"):
        await Store.open(tmp_path)


async def test_a_closed_store_refuses_work(tmp_path: Path) -> None:
    """After close() every call raises StorageError; closing twice is harmless."""
    store = await Store.open(tmp_path)
    await store.close()
    await store.close()
    with pytest.raises(StorageError, match="closed"):
        await store.get("x")


async def test_a_file_that_is_not_a_database_is_refused(tmp_path: Path) -> None:
    """A corrupt data file gives a StorageError naming the file, not a crash in a thread."""
    (tmp_path / DATABASE_FILE).write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StorageError, match=DATABASE_FILE):
        await Store.open(tmp_path)


async def test_the_store_works_in_real_time(tmp_path: Path) -> None:
    """With the real clock, a new dream is not purged by the 7-day retention."""
    store = await Store.open(tmp_path)
    try:
        dream_id = await _add(store)
        assert await store.purge(older_than_s=7 * DAY_S) == 0
        record = await store.get(dream_id)
        assert record is not None and abs(record.created_at - time.time()) < 60
    finally:
        await store.close()


async def test_a_spoiler_is_kept_with_its_dream(tmp_path: Path) -> None:
    """``spoiler`` is stored with the dream; a version 4 file's dreams read as no spoilers."""
    connection = sqlite3.connect(tmp_path / DATABASE_FILE, isolation_level=None)
    try:
        _schema.migrate(connection, target=4)
        connection.execute(
            """INSERT INTO jobs (id, user_id, params, status, created_at, origin_id)
               VALUES (?, 7, ?, 'queued', 100.0, ?)""",
            ("d" * 32, params_to_json(DreamParams(seed=3)), "d" * 32),
        )
    finally:
        connection.close()
    store = await Store.open(tmp_path)
    try:
        (old,) = await store.unfinished()
        assert old.spoiler is False
        hidden = await store.add(
            user_id=7, guild_id=1, channel_id=2, params=DreamParams(), picture=b"p", spoiler=True
        )
        assert hidden.spoiler is True
        got = await store.get(hidden.id)
        assert got is not None and got.spoiler
    finally:
        await store.close()
