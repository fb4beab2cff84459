"""End to end: moving dreams as results: animated /dream and /dream-zoom are recorded, resumed
after a restart as they were asked, carry the result controls, and obey the server's
/dream-settings animations switch."""

from __future__ import annotations

import io
import threading
from collections.abc import Callable
from typing import Any

from PIL import Image

from engine import Animation, Encoded, encode_gif
from tests.bot.conftest import DATA, GatedRunner
from tests.bot.support.fake_discord import (
    DEFAULT_PERMISSIONS,
    FakeUser,
    Recorded,
    SentInteraction,
    final_edit,
)
from tests.bot.support.results_fake import MANAGE_GUILD, ResultsFake

DEFERRED, MESSAGE, EPHEMERAL = 5, 4, 64
# the frames the runner's animations show; the last one is where a zoom goes on from
COLOURS = ((200, 30, 30), (30, 200, 30), (30, 30, 200))


def _cat_gif(frames: int) -> bytes:
    """The cat, 120 x 80, panning a little each frame, as an animated GIF."""
    with Image.open(DATA / "chelsea.png") as photo:
        big = photo.convert("RGB").resize((120 + 3 * frames, 80 + 2 * frames))
    images = [big.crop((3 * i, 2 * i, 3 * i + 120, 2 * i + 80)) for i in range(frames)]
    buffer = io.BytesIO()
    images[0].save(buffer, "GIF", save_all=True, append_images=images[1:], duration=80, loop=0)
    return buffer.getvalue()


class MovingRunner(GatedRunner):
    """A stand-in for the engine: a still picture for a dream, a 3-frame GIF (red, green, blue)
    for an animated or zoom job, or an MP4 (a few fake bytes) when ``video`` is set."""

    def __init__(self, *, hold: bool = False, video: bool = False) -> None:
        super().__init__(hold=hold)
        self.video = video

    def __call__(self, request: Any, *, progress: Any, cancel: threading.Event) -> Any:
        still = super().__call__(request, progress=progress, cancel=cancel)
        if request.kind == "dream":
            return still
        if self.video:
            video = b"\x00\x00\x00\x18ftypmp42 not really a video"
            return Encoded(data=video, format="MP4", filename=f"{request.kind}.mp4")
        frames = tuple(Image.new("RGB", (48, 32), colour) for colour in COLOURS)
        data = encode_gif(Animation(frames, (100,) * len(frames)))
        return Encoded(data=data, format="GIF", filename=f"{request.kind}.gif")


async def _ask(
    fake: ResultsFake, command: str, user: FakeUser, data: bytes, filename: str, **options: Any
) -> tuple[SentInteraction, Recorded]:
    """Run /dream or /dream-zoom on a picture and wait for the result; returns the final edit."""
    attachment = fake.add_attachment(data, filename=filename)
    sent = await fake.send_command(command, options, user=user, attachments={"image": attachment})
    final = await fake.wait_for(final_edit(fake, sent), timeout=30)
    assert sent.original_message_id is not None
    return sent, final


async def _answered(fake: ResultsFake, click: SentInteraction) -> Recorded:
    """A click answered like /dream: deferred publicly, then the result."""
    callback = await fake.wait_callback(click)
    assert callback.json["type"] == DEFERRED and not callback.flags & EPHEMERAL, callback
    return await fake.wait_for(final_edit(fake, click), timeout=30)


async def _refused(fake: ResultsFake, sent: SentInteraction) -> str:
    """The ephemeral refusal an interaction got straight away."""
    callback = await fake.wait_callback(sent)
    assert callback.json["type"] == MESSAGE and callback.flags & EPHEMERAL, callback
    return callback.content or ""


def _picture(fake: ResultsFake, message_id: int) -> bytes:
    # the dream; the member's picture, shown beside it on the card, comes after it
    dreamed, *_ = fake.messages[message_id]["attachments"]
    return fake.attachment_bytes(dreamed)


async def test_a_restart_resumes_an_animated_dream_as_an_animation(
    fake: ResultsFake, start_bot: Callable[..., Any]
) -> None:
    """An animated /dream interrupted by a restart is dreamed frame by frame again, same note."""
    gif = _cat_gif(10)
    runner = MovingRunner(hold=True)
    async with start_bot(runner=runner, dream_shutdown_timeout_s=0.2, dream_max_frames=4) as bot:
        alice = fake.add_member("alice")
        attachment = fake.add_attachment(gif, filename="cat.gif")
        sent = await fake.send_command(
            "dream", {"seed": 4}, user=alice, attachments={"image": attachment}
        )
        await fake.wait_until(lambda: bot.jobs.running and bool(runner.requests))
        asked = runner.requests[0]
        assert asked.kind == "animated"
    assert "restarting" in (fake.edits(sent)[-1].content or "")

    again = MovingRunner()
    async with start_bot(runner=again, dream_max_frames=4):
        final = await fake.wait_for(final_edit(fake, sent), timeout=30)
        (resumed,) = again.requests
        assert resumed.picture == gif
        assert (resumed.kind, resumed.animation) == ("animated", asked.animation)
        assert "4 frames, every 3rd frame (4 of 10)" in (final.content or "")


async def test_dream_deeper_on_an_animation_dreams_every_frame_again(
    fake: ResultsFake, start_bot: Callable[..., Any]
) -> None:
    """Dream deeper on an animated result queues the animation, not its first frame."""
    runner = MovingRunner()
    async with start_bot(runner=runner):
        alice = fake.add_member("alice")
        sent, _ = await _ask(fake, "dream", alice, _cat_gif(3), "cat.gif", steps=2, octaves=1)
        first = sent.original_message_id or 0
        final = await _answered(fake, await fake.click(first, "deeper", user=alice))
        deeper = runner.requests[1]
        assert deeper.kind == "animated" and deeper.picture == _picture(fake, first)
        assert deeper.animation == runner.requests[0].animation
        assert "3 frames" in (final.content or "")


async def test_dream_deeper_on_an_mp4_result_says_why_it_cannot(
    fake: ResultsFake, start_bot: Callable[..., Any]
) -> None:
    """An MP4 result cannot be read back: Dream deeper says so privately; Another layer works."""
    runner = MovingRunner(video=True)
    async with start_bot(runner=runner):
        alice = fake.add_member("alice")
        gif = _cat_gif(3)
        sent, _ = await _ask(fake, "dream", alice, gif, "cat.gif", steps=2, octaves=1)
        first = sent.original_message_id or 0
        text = await _refused(fake, await fake.click(first, "deeper", user=alice))
        assert "MP4" in text and "Another layer" in text
        assert len(runner.requests) == 1

        await _answered(fake, await fake.click(first, "layer", user=alice, value="fur"))
        layered = runner.requests[1]
        assert layered.kind == "animated" and layered.picture == gif
        assert layered.params.layers == ("fur",)


async def test_the_server_can_turn_animations_off_and_on(
    fake: ResultsFake, start_bot: Callable[..., Any]
) -> None:
    """/dream-settings animations: off dreams a GIF's first frame (saying so) and refuses zooms."""
    runner = MovingRunner()
    async with start_bot(runner=runner) as bot:
        admin = fake.add_member("admin", permissions=DEFAULT_PERMISSIONS | MANAGE_GUILD)
        alice = fake.add_member("alice")
        off = await fake.send_subcommand(
            "dream-settings", "animations", {"allowed": False}, user=admin
        )
        callback = await fake.wait_callback(off)
        assert "Saved" in (callback.content or "")
        assert "off: /dream dreams the first frame only" in str(callback.json["data"]["embeds"])
        settings = await bot.dreams.server_settings(fake.guild_id)
        assert settings.allow_animations is False

        gif = _cat_gif(3)
        _, final = await _ask(fake, "dream", alice, gif, "cat.gif", steps=1, octaves=1)
        assert runner.requests[0].kind == "dream" and runner.requests[0].animation is None
        assert "first frame only" in (final.content or "")
        photo = fake.add_attachment(gif, filename="cat.gif")
        zoom = await fake.send_command("dream-zoom", user=alice, attachments={"image": photo})
        assert "Animations are turned off here" in await _refused(fake, zoom)

        on = await fake.send_subcommand(
            "dream-settings", "animations", {"allowed": True}, user=admin
        )
        await fake.wait_callback(on)
        await _ask(fake, "dream", alice, gif, "cat.gif", steps=1, octaves=1)
        assert runner.requests[1].kind == "animated"


async def test_a_server_cannot_allow_what_the_bot_turned_off(
    fake: ResultsFake, start_bot: Callable[..., Any]
) -> None:
    """With DREAM_ANIMATIONS=false, /dream-settings animations allowed:yes is refused."""
    async with start_bot(runner=MovingRunner(), dream_animations=False):
        admin = fake.add_member("admin", permissions=DEFAULT_PERMISSIONS | MANAGE_GUILD)
        sent = await fake.send_subcommand(
            "dream-settings", "animations", {"allowed": True}, user=admin
        )
        assert "DREAM_ANIMATIONS" in await _refused(fake, sent)


async def test_a_zoom_is_recorded_and_its_controls_zoom_again(
    fake: ResultsFake, start_bot: Callable[..., Any], cat_photo: bytes
) -> None:
    """/dream-zoom results have the controls and history; Dream deeper zooms on from the last
    frame, Another layer zooms into the original again, Info tells the zoom's settings."""
    runner = MovingRunner()
    async with start_bot(runner=runner) as bot:
        alice = fake.add_member("alice")
        sent, final = await _ask(
            fake, "dream-zoom", alice, cat_photo, "cat.png", frames=5, zoom=4.0, seed=9
        )
        first = sent.original_message_id or 0
        assert set(fake.controls(first)) == {"deeper", "layer", "info", "delete"}
        assert "zoom" in (final.content or "") and "5 frames" in (final.content or "")
        asked = runner.requests[0]

        deeper = await _answered(fake, await fake.click(first, "deeper", user=alice))
        again = runner.requests[1]
        assert (again.kind, again.animation, again.params) == (
            "zoom",
            asked.animation,
            asked.params,
        )
        with Image.open(io.BytesIO(again.picture)) as frame:
            assert frame.n_frames == 1 and frame.convert("RGB").getpixel((24, 16)) == COLOURS[-1]
        assert "zoom" in (deeper.content or "") and "5 frames" in (deeper.content or "")

        await _answered(fake, await fake.click(first, "layer", user=alice, value="fur"))
        layered = runner.requests[2]
        assert layered.kind == "zoom" and layered.picture == cat_photo
        assert layered.params.layers == ("fur",) and layered.animation == asked.animation

        info = await _refused(fake, await fake.click(first, "info", user=alice))
        for part in ("Zoom by", "5 frames", "4% closer", "seed 9"):
            assert part in info, (part, info)
        history = await bot.dreams.store.history(guild_id=fake.guild_id, user_id=alice.id)
        assert [r.job_kind for r in history] == ["zoom", "zoom", "zoom"]

        await fake.click(first, "delete", user=alice)
        await fake.wait_until(lambda: first not in fake.messages)
