"""Tests for bot/jobs/base.py: the job handle the cogs watch."""

from __future__ import annotations

import asyncio

import pytest

from bot.errors import JobCancelled
from bot.jobs import Job, JobRequest, JobResult, JobState, JobStatus
from engine import DreamParams, Encoded, Progress


def make_job(cancelled: list[Job] | None = None) -> Job:
    request = JobRequest(user_id=1, picture=b"x", params=DreamParams())
    return Job(request, on_cancel=(cancelled if cancelled is not None else []).append)


async def test_watch_coalesces_and_ends_with_the_final_status() -> None:
    """watch() yields the latest status after each change, skipping ones it missed, then ends."""
    job = make_job()
    seen: list[JobStatus] = []

    async def watch() -> None:
        async for status in job.watch():
            seen.append(status)

    watcher = asyncio.create_task(watch())
    await asyncio.sleep(0)
    job.set_status(JobStatus(JobState.QUEUED, position=2))
    job.set_status(JobStatus(JobState.QUEUED, position=1))  # same tick: only the latest is seen
    await asyncio.sleep(0)
    job.set_status(JobStatus(JobState.RUNNING, progress=Progress(1, 1, 1, 2)))
    await asyncio.sleep(0)
    job.set_result(JobResult(picture=Encoded(data=b"p", format="PNG", filename="d.png"), seconds=1))
    await asyncio.wait_for(watcher, 1)
    assert [s.position for s in seen[:2]] == [None, 1]
    assert seen[-2].progress == Progress(1, 1, 1, 2)
    assert seen[-1].state is JobState.DONE


async def test_result_raises_the_jobs_error_and_later_updates_are_ignored() -> None:
    """After set_error, result() raises it and further status changes are ignored."""
    job = make_job()
    job.set_error(JobCancelled())
    job.set_status(JobStatus(JobState.RUNNING))
    with pytest.raises(JobCancelled):
        await job.result()
    assert job.done() and job.status.state is JobState.FAILED


async def test_cancel_asks_the_backend_only_while_unfinished() -> None:
    """cancel() reaches the backend's callback, and does nothing once the job is done."""
    cancelled: list[Job] = []
    job = make_job(cancelled)
    job.cancel()
    job.set_error(JobCancelled())
    job.cancel()
    assert cancelled == [job]


async def test_request_repr_leaves_out_the_picture() -> None:
    """A request's repr (in logs) does not dump the picture's bytes."""
    request = JobRequest(user_id=7, picture=b"\x89PNG" * 1000, params=DreamParams())
    assert "PNG" not in repr(request) and "user_id=7" in repr(request)
