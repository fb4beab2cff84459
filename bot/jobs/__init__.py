"""Jobs: the interface the cogs use to run dreams (`JobBackend`, `Job`), its backends (local here,
Celery in bot.jobs.celery) and the one codec of a dream's stored form (bot.jobs.codec)."""

from bot.jobs.base import (
    Job,
    JobBackend,
    JobKind,
    JobRequest,
    JobResult,
    JobState,
    JobStatus,
    Origin,
    Resumable,
    Slot,
)
from bot.jobs.fair import FairQueue
from bot.jobs.local import EngineRunner, LocalBackend, Runner

__all__ = [
    "EngineRunner",
    "FairQueue",
    "Job",
    "JobBackend",
    "JobKind",
    "JobRequest",
    "JobResult",
    "JobState",
    "JobStatus",
    "LocalBackend",
    "Origin",
    "Resumable",
    "Runner",
    "Slot",
]
