"""Which `JobBackend` runs the dreams, as ``DREAM_BACKEND`` says: local, or celery (imported only
then)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.jobs.base import JobBackend
from bot.jobs.local import LocalBackend

if TYPE_CHECKING:
    from bot.settings import Settings

__all__ = ["backend_from_settings"]


def backend_from_settings(settings: Settings) -> JobBackend:
    """The in-process queue, or the Celery backend (celery and redis imported only then)."""
    if settings.dream_backend == "celery":
        from bot.jobs.celery import CeleryBackend

        return CeleryBackend.from_settings(settings)
    return LocalBackend.from_settings(settings)
