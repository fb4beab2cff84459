"""Fixtures for the Celery tests, a pytest plugin (``pytest_plugins``): a real Redis (CI's, or
a private redis-server) and two real workers shared by the whole session."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator

import pytest
import redis

from tests.bot.celery_support import (
    EMPTY_DB,
    REDIS_ENV,
    WORKERS_DB,
    Workers,
    free_port,
    redis_db,
    wait_for_ping,
)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Redis for the tests: $DREAM_TEST_REDIS_URL (CI starts one), else a private
    redis-server; skipped without either, except in CI, where that is a failure."""
    url = os.environ.get(REDIS_ENV)
    in_ci = os.environ.get("CI", "").lower() == "true"
    if url:
        if not wait_for_ping(url, 30):
            pytest.fail(f"{REDIS_ENV}={url} does not answer PING")
        yield url
        return
    binary = shutil.which("redis-server")
    if binary is None:
        reason = (
            f"needs Redis: set {REDIS_ENV} or install redis-server (apt-get install redis-server)"
        )
        if in_ci:
            pytest.fail(f"CI=true but no Redis: {reason}")
        pytest.skip(reason)
    port = free_port()
    folder = tmp_path_factory.mktemp("redis")
    server = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        cwd=folder,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    try:
        if not wait_for_ping(url, 30):
            pytest.fail("the private redis-server did not start")
        yield url
    finally:
        server.terminate()
        server.wait(10)


@pytest.fixture
def empty_redis(redis_server: str) -> str:
    """A Redis database emptied for this test, that no worker uses."""
    url = redis_db(redis_server, EMPTY_DB)
    client = redis.Redis.from_url(url)
    client.flushdb()
    client.close()
    return url


@pytest.fixture(scope="session")
def worker_pool(redis_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workers]:
    """Two workers for the whole session (each loads torch once), on their own database."""
    url = redis_db(redis_server, WORKERS_DB)
    client = redis.Redis.from_url(url)
    client.flushdb()
    client.close()
    pool = Workers(url, tmp_path_factory.mktemp("workers"))
    try:
        pool.ensure(2)
        yield pool
    finally:
        pool.stop()


@pytest.fixture
def workers(worker_pool: Workers) -> Workers:
    """The session's workers, two of them alive and ready (one killed earlier is replaced)."""
    worker_pool.ensure(2)
    return worker_pool
