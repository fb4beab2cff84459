"""The Celery backend: the app both sides share (app), the Redis state and its scripts (store),
the bot's side (backend) and `deepdream-worker` (worker, not imported here)."""

from bot.jobs.celery.backend import CeleryBackend, JobFailed, read_workers

__all__ = ["CeleryBackend", "JobFailed", "read_workers"]
