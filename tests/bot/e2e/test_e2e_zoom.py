"""End to end: /dream-zoom and /dream on an animated GIF, from the fake Discord's side."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from PIL import Image

from bot.jobs import codec
from engine import AnimationParams, FrameProgress, ZoomParams, decode_animation
from tests.bot.conftest import DATA, GatedRunner
from tests.bot.support.fake_discord import FakeDiscord, final_edit

DEFERRED, MESSAGE, EPHEMERAL = 5, 4, 64


def _cat_gif(frames: int, *, durations: list[int] | None = None) -> bytes:
    """The cat, 120 x 80, panning a little each frame, as an animated GIF."""
    with Image.open(DATA / "chelsea.png") as photo:
        big = photo.convert("RGB").resize((120 + 3 * frames, 80 + 2 * frames))
    images = [big.crop((3 * i, 2 * i, 3 * i + 120, 2 * i + 80)) for i in range(frames)]
    buffer = io.BytesIO()
    images[0].save(
        buffer,
        "GIF",
        save_all=True,
        append_images=images[1:],
        duration=durations or [80] * frames,
        loop=0,
    )
    return buffer.getvalue()


class FrameRunner(GatedRunner):
    """A stand-in for the engine that reports progress frame by frame, as zooms do."""

    def __init__(self, *, frames: int, frame_s: float) -> None:
        super().__init__()
        self.frames = frames
        self.frame_s = frame_s

    def __call__(self, request: Any, *, progress: Any, cancel: Any) -> Any:
        from engine import encode

        self.requests.append(request)
        for frame in range(1, self.frames + 1):
            time.sleep(self.frame_s)
            progress(
                FrameProgress(
                    1, 1, 1, 1, frame=frame, frames=self.frames, steps_done=frame, steps_total=6
                )
            )
        return encode(Image.new("RGB", (32, 24), (10, 200, 30)), stem="zoom")


@pytest.mark.slow
async def test_dream_zoom_answers_with_an_animation_of_the_frames_asked(
    fake: FakeDiscord, start_bot: Callable[..., Any], cat_photo: bytes
) -> None:
    """/dream-zoom with the real engine: deferred, then an animation of 3 frames at the side cap."""
    async with start_bot(runner=None, dream_max_side=96):
        user = fake.add_member("zoe")
        photo = fake.add_attachment(cat_photo, filename="cat.png")  # 120 x 80
        sent = await fake.send_command(
            "dream-zoom",
            {"frames": 3, "zoom": 10.0, "rotate": 2.0, "seed": 3},
            user=user,
            attachments={"image": photo},
        )
        callback = await fake.wait_callback(sent)
        assert callback.status == 200 and callback.json["type"] == DEFERRED
        final = await fake.wait_for(final_edit(fake, sent), timeout=180)
        (upload,) = final.files
        assert len(upload.data) <= fake.attachment_size_limit
        assert upload.filename.startswith("zoom.")
        animation = decode_animation(upload.data)
        assert len(animation.frames) == 3 and animation.size == (96, 64)
        summary = final.content or ""
        for part in ("zoom", "efficientnet_lite0", "3 frames", "10%", "seed 3"):
            assert part in summary, (part, summary)


@pytest.mark.slow
async def test_dream_on_an_animated_gif_dreams_every_frame(
    fake: FakeDiscord, start_bot: Callable[..., Any]
) -> None:
    """/dream on a 3-frame GIF answers with a 3-frame GIF, the durations kept."""
    async with start_bot(runner=None, dream_max_side=96):
        user = fake.add_member("gif")
        gif = fake.add_attachment(_cat_gif(3, durations=[60, 90, 150]), filename="cat.gif")
        sent = await fake.send_command(
            "dream",
            {"steps": 1, "octaves": 1, "seed": 5},
            user=user,
            attachments={"image": gif},
        )
        final = await fake.wait_for(final_edit(fake, sent), timeout=180)
        upload, original = final.files  # the dream, then its first frame beside it
        animation = decode_animation(upload.data)
        assert len(animation.frames) == 3 and animation.durations == (60, 90, 150)
        assert original.filename == "original.jpg"
        assert animation.size == (96, 64)
        assert "3 frames" in (final.content or "")


async def test_animations_turned_off_dream_the_first_frame_and_say_so(
    fake: FakeDiscord, start_bot: Callable[..., Any]
) -> None:
    """With DREAM_ANIMATIONS=false a GIF is dreamed as a still, and the answer says so."""
    runner = GatedRunner()
    async with start_bot(runner=runner, dream_animations=False):
        user = fake.add_member("still")
        gif = fake.add_attachment(_cat_gif(4), filename="cat.gif")
        sent = await fake.send_command("dream", user=user, attachments={"image": gif})
        final = await fake.wait_for(final_edit(fake, sent), timeout=30)
        (request,) = runner.requests
        assert request.kind == "dream" and request.animation is None
        assert "first frame only" in (final.content or "")

        zoom = await fake.send_command("dream-zoom", user=user, attachments={"image": gif})
        callback = await fake.wait_callback(zoom)
        assert callback.json["type"] == MESSAGE and callback.flags & EPHEMERAL
        assert "Animations are turned off" in (callback.content or "")


async def test_a_long_gif_is_sampled_to_the_frame_limit(
    fake: FakeDiscord, start_bot: Callable[..., Any]
) -> None:
    """A GIF over DREAM_MAX_FRAMES is queued as every n-th frame, and the answer says which."""
    runner = GatedRunner()
    async with start_bot(runner=runner, dream_max_frames=4):
        user = fake.add_member("long")
        gif = fake.add_attachment(_cat_gif(10), filename="long.gif")
        sent = await fake.send_command("dream", user=user, attachments={"image": gif})
        final = await fake.wait_for(final_edit(fake, sent), timeout=30)
        (request,) = runner.requests
        assert request.kind == "animated"
        assert isinstance(request.animation, AnimationParams)
        assert request.animation.max_frames == 4 and request.animation.sample is True
        # the request may travel to a worker: its codec writes plain JSON
        json.dumps(codec.animation_to_json(request.animation))
        assert "4 frames, every 3rd frame (4 of 10)" in (final.content or "")


async def test_dream_zoom_queues_a_zoom_job_and_shows_frames_done(
    fake: FakeDiscord, start_bot: Callable[..., Any], cat_photo: bytes
) -> None:
    """/dream-zoom queues kind "zoom" with its settings; progress edits count the frames done."""
    runner = FrameRunner(frames=6, frame_s=0.6)
    async with start_bot(runner=runner):
        user = fake.add_member("zed")
        photo = fake.add_attachment(cat_photo, filename="cat.png")
        sent = await fake.send_command(
            "dream-zoom", {"frames": 6, "zoom": 4.0}, user=user, attachments={"image": photo}
        )
        final = await fake.wait_for(final_edit(fake, sent), timeout=30)
        (request,) = runner.requests
        assert request.kind == "zoom"
        assert isinstance(request.animation, ZoomParams)
        assert request.animation.frames == 6 and request.animation.zoom == pytest.approx(0.04)
        assert request.params.octaves == 1 and request.params.max_side == 96
        json.dumps(codec.animation_to_json(request.animation))
        progress = [e.content or "" for e in fake.edits(sent) if e is not final]
        assert any("frames done" in text and "▓" in text for text in progress), progress


async def test_a_zoom_that_would_take_too_long_is_refused_before_deferring(
    fake: FakeDiscord, start_bot: Callable[..., Any], cat_photo: bytes
) -> None:
    """Over DREAM_ANIMATION_MAX_S, or over DREAM_MAX_FRAMES, the zoom is refused privately."""
    runner = GatedRunner()
    async with start_bot(runner=runner, dream_animation_max_s=1, dream_max_frames=30):
        user = fake.add_member("slow")
        photo = fake.add_attachment(cat_photo, filename="cat.png")
        sent = await fake.send_command(
            "dream-zoom", {"frames": 30}, user=user, attachments={"image": photo}
        )
        callback = await fake.wait_callback(sent)
        assert callback.json["type"] == MESSAGE and callback.flags & EPHEMERAL
        assert "would take about" in (callback.content or "")

        sent = await fake.send_command(
            "dream-zoom", {"frames": 31}, user=user, attachments={"image": photo}
        )
        callback = await fake.wait_callback(sent)
        assert callback.json["type"] == MESSAGE and callback.flags & EPHEMERAL
        assert "at most 30 frames" in (callback.content or "")
        assert not fake.downloaded(photo) and not runner.requests
