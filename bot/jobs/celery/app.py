"""The Celery application both sides share: Redis broker and result backend, durable delivery
(late acks, prefetch 1, JSON only), and the queue a model's dreams go to."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from celery import Celery

from bot.jobs.celery.store import RESULT_TTL_S

__all__ = ["QUEUE_PREFIX", "TASK_NAME", "make_celery", "queue_for", "safe_url"]

TASK_NAME = "deepdream.dream"
QUEUE_PREFIX = "dreams"


def queue_for(model: str) -> str:
    """The queue of one model: a worker consumes the queues of the models it loaded."""
    return f"{QUEUE_PREFIX}.{model}"


def safe_url(url: str) -> str:
    """The Redis URL without its password, for logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    user = f"{parts.username}:***@" if parts.username else ":***@"
    return urlunsplit(parts._replace(netloc=user + host))


def make_celery(
    redis_url: str, *, visibility_timeout: float = 900, restore_every: float = 10
) -> Celery:
    """The app, with Redis as broker and result backend.

    ``visibility_timeout``: seconds after its delivery that an unacknowledged message (its
    worker died) goes back to the queue; it must exceed the longest job, which the worker
    enforces. ``restore_every``: how often an idle worker looks for such messages.
    """
    app = Celery("deepdream", broker=redis_url, backend=redis_url, set_as_current=False)
    app.conf.update(
        # JSON only: a message never carries code, and never a picture (those are Redis keys)
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        result_accept_content=["json"],
        # a message is acknowledged after its job ended, so a dead worker's job runs again
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        broker_transport_options={
            "visibility_timeout": visibility_timeout,
            # kombu scans for messages of dead workers every interval x throttle seconds
            "unacked_restore_interval": restore_every,
            "unacked_restore_throttle": 1,
        },
        result_backend_transport_options={"visibility_timeout": visibility_timeout},
        result_expires=RESULT_TTL_S,
        broker_connection_retry_on_startup=True,
        task_default_queue=QUEUE_PREFIX,
        worker_send_task_events=False,
        worker_hijack_root_logger=False,
    )
    return app
