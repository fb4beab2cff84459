"""Tests for bot/summary.py: the one result line, shared by every way a result is answered."""

from __future__ import annotations

import dataclasses

from bot.animation import ZOOM
from bot.cogs.results import summary as results_summary
from bot.jobs import Job, JobRequest
from bot.resumed import summary as resumed_summary
from bot.summary import summary
from engine import DreamParams, ZoomParams

PARAMS = DreamParams(steps=3, octaves=2, seed=11, layers=("eyes",))
ZOOMED = dataclasses.asdict(ZoomParams(frames=6, zoom=0.04, rotate=2.0, steps=5))


def test_a_dream_a_zoom_and_a_note() -> None:
    """A dream's line names its steps and octaves; a zoom's its frames; a note comes last."""
    assert summary(PARAMS, 2.25) == (
        "🌀 efficientnet_lite0 · eyes · 3 steps × 2 octaves · strength 1 · seed 11 · 2.2 s"
    )
    assert summary(dataclasses.replace(PARAMS, steps=1, octaves=1), 1).count("1 step ×") == 1
    assert summary(PARAMS, 3, kind=ZOOM, animation=ZOOMED) == (
        "🌀 zoom · efficientnet_lite0 · eyes · 6 frames × 4% · 2° a frame · 5 steps each"
        " · seed 11 · 3.0 s"
    )
    assert summary(PARAMS, 1, note="3 frames").endswith("· 1.0 s · 3 frames")


async def test_every_way_of_answering_writes_the_same_line() -> None:
    """The results cog and answers for taken-over jobs (bot/resumed.py) use this one line."""
    assert results_summary is summary
    for kind, animation in (("dream", None), ("animated", {"blend": 0.85}), (ZOOM, ZOOMED)):
        request = JobRequest(user_id=1, picture=b"", params=PARAMS, kind=kind, animation=animation)
        job = Job(request, on_cancel=lambda job: None)
        assert resumed_summary(job, 4.0) == summary(PARAMS, 4.0, kind=kind, animation=animation)
