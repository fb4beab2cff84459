"""Jobs: the interface the cogs use to run dreams (`JobBackend`, `Job`) and its backends."""

from bot.jobs.base import (
    Job,
    JobBackend,
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
