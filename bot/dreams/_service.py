"""`Dreams`: admits, records, runs and answers every dream (asked for with /dream, with a result's
controls, interrupted by a restart, or left by another bot process), and knows what waits in the
queue for /dream-queue. Built with the bot, before any cog loads; the cogs are handed it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import statistics
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import discord

from bot.cooldowns import Cooldowns
from bot.dreams._plans import JobPlan, plan_picture, plan_zoom
from bot.dreams._rules import Rules
from bot.dreams._stored import StoredInteraction, origin_of, postable_channel, record_origin
from bot.dreams._texts import describe, summary, tell_error, token_left
from bot.errors import AlreadyDreaming, BotError, ShuttingDown, UserQueueFull
from bot.jobs import Job, JobKind, JobRequest, JobResult, JobState, Resumable
from bot.progress import Throttle, status_text
from bot.reply import Reply
from bot.storage import DreamKind, DreamRecord, ServerSettings, Store

if TYPE_CHECKING:
    from bot.bot import DreamBot
    from engine import DreamParams, ZoomParams

__all__ = ["LOST", "RESTARTING", "RESUMED", "TO_DMS", "Dreams", "Finished", "QueueView"]

log = logging.getLogger(__name__)

RESTARTING = "⏳ I'm restarting. Your dream keeps its place and goes on when I'm back."
RESUMED = "⏳ I'm back; your dream is in the queue again."
LOST = "⚠️ I restarted while your dream was waiting and couldn't pick it up again. Please ask again."
# where only the interaction's webhook answers and the dream may outlast its 15-minute token
TO_DMS = (
    "📬 This dream may take longer than I can keep this message updated (15 minutes); "
    "if it does, I'll send it to your DMs."
)
# an interrupted dream is kept for the next start only if its answer can still reach the member
_KEEP_IF_LEFT = timedelta(minutes=2)
_RESUME_IF_LEFT = timedelta(seconds=30)

Picture = bytes | Callable[[], Awaitable[bytes]]
Prepare = Callable[[bytes], Awaitable[JobPlan]]


@dataclass(frozen=True, kw_only=True, slots=True)
class Finished:
    """A finished dream as its answer shows it (what `ResultView` makes a card of)."""

    line: str  # the result line (`summary`)
    recipe: str  # what it looked for (`describe`): the picture's alt text
    user_id: int  # the member who asked
    picture: tuple[bytes, str]  # the result: bytes, filename
    finished_at: float  # unix seconds
    spoiler: bool = False  # the member's picture was a spoiler, so the result is one
    record: DreamRecord | None = None  # the dream its controls act on; None: no controls
    original: bytes | None = None  # the member's picture, shown small beside the result
    max_bytes: int | None = None  # what the answer may upload in all


# the card showing a finished dream, and the pictures (bytes, filename) it shows as
# attachment://filename; bot.cogs.results makes it
ResultView = Callable[
    [Finished], Awaitable[tuple[discord.ui.LayoutView, Sequence[tuple[bytes, str]]]]
]


@dataclass(frozen=True, kw_only=True, slots=True)
class QueueView:
    """The queue as one member sees it."""

    waiting: int  # everyone's dreams waiting (the running one not counted)
    running: bool  # a dream is being dreamed now
    positions: tuple[int, ...]  # the member's waiting dreams (1 = next)
    mine_running: bool
    typical_s: float | None  # a recent dream's engine time (median); None without history


class _Place:
    """A member's place under the queue limit: held from admission until their dream is
    finished, given back once however it ends. A member's dreams count together wherever they
    were asked for (every server, DMs, group DMs)."""

    def __init__(self, counts: Counter[int], member: int) -> None:
        self._counts = counts
        self._member = member
        self._held = True
        counts[member] += 1

    def release(self) -> None:
        if self._held:
            self._held = False
            self._counts[self._member] -= 1
            if self._counts[self._member] <= 0:
                del self._counts[self._member]


class Dreams:
    """The one way dreams are run for members, as ``bot.dreams``."""

    def __init__(self, bot: DreamBot, store: Store) -> None:
        self.bot = bot
        self.store = store
        # set by the results cog as it loads; without it results come without controls
        self.result_view: ResultView | None = None
        self._servers: dict[int, ServerSettings] = {}
        self._server_cooldowns: dict[int, Cooldowns] = {}
        self._members: Counter[int] = Counter()  # members' dreams admitted, not yet finished
        self._active: dict[str, tuple[DreamRecord, Job]] = {}
        self._clicks: set[tuple[str, ...]] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def retention_days(self) -> float:
        return self.bot.settings.dream_retention_days

    # ---- server settings ------------------------------------------------------------------------

    async def server_settings(self, guild_id: int | None) -> ServerSettings:
        if guild_id is None:
            return ServerSettings()
        found = self._servers.get(guild_id)
        if found is None:
            found = self._servers[guild_id] = await self.store.server_settings(guild_id)
        return found

    async def save_server_settings(
        self, guild_id: int, settings: ServerSettings, *, by: int | None
    ) -> None:
        await self.store.save_server_settings(guild_id, settings, by=by)
        self._servers[guild_id] = settings

    def merge(self, server: ServerSettings) -> Rules:
        return Rules.merge(self.bot.settings, server)

    async def rules(self, interaction: discord.Interaction) -> Rules:
        """This server's rules; `NotHere` if the server does not allow dreams in this channel."""
        rules = self.merge(await self.server_settings(interaction.guild_id))
        parent = getattr(interaction.channel, "parent_id", None)
        rules.check_channel(interaction.channel_id, parent=parent)
        return rules

    async def animations_allowed(self, guild_id: int | None) -> bool:
        """``DREAM_ANIMATIONS``, narrowed by the server's ``allow_animations`` (/dream-settings)."""
        if not self.bot.settings.dream_animations:
            return False
        server = await self.server_settings(guild_id)
        return server.allow_animations is not False

    def planner(
        self, guild_id: int | None, params: DreamParams, *, guided: bool = False
    ) -> Prepare:
        """What a dream makes of the picture it downloaded: every frame of an animation if
        allowed here, else a still dream (``guided``: towards a guide picture)."""

        async def plan(data: bytes) -> JobPlan:
            allowed = await self.animations_allowed(guild_id)
            return await plan_picture(
                data, params, self.bot.settings, allowed=allowed, guided=guided
            )

        return plan

    def zoomer(self, params: DreamParams, zoom: ZoomParams, *, guided: bool = False) -> Prepare:
        """What a zoom makes of the picture it downloaded: the zoom, within the time limit."""

        async def plan(data: bytes) -> JobPlan:
            return await plan_zoom(data, params, zoom, self.bot.settings, guided=guided)

        return plan

    # ---- one dream ------------------------------------------------------------------------------

    @contextlib.contextmanager
    def once(self, *key: str) -> Iterator[None]:
        """Hold ``key`` (a control and its dream) while its dream is on its way: a second click
        meanwhile gets `AlreadyDreaming` instead of starting the same dream again."""
        if key in self._clicks:
            raise AlreadyDreaming()
        self._clicks.add(key)
        try:
            yield
        finally:
            self._clicks.discard(key)

    async def run(
        self,
        interaction: discord.Interaction,
        reply: Reply,
        *,
        rules: Rules,
        params: DreamParams,
        picture: Picture,
        guide: Picture | None = None,
        kind: DreamKind = DreamKind.DREAM,
        parent: DreamRecord | None = None,
        prepare: Prepare | None = None,
        spoiler: bool = False,
    ) -> None:
        """Admit the dream (cooldowns, limits), answer the interaction publicly, record and queue
        it, show its progress, then the result with its controls. Refusals before the public
        answer raise (the caller makes them ephemeral). ``prepare`` decides from the downloaded
        picture what job to run (bot/animation.py: every frame of an animation, a zoom); the
        record keeps that, so a restart resumes the same job. ``spoiler``: the picture was a
        spoiler, and so are its results."""
        user, guild = interaction.user.id, interaction.guild_id
        self.bot.cooldowns.check(user)
        server_cooldown = self._server_cooldown(guild, rules)
        if server_cooldown is not None:
            server_cooldown.check(user)
        if self._members[user] >= rules.user_limit:
            raise UserQueueFull(rules.user_limit)
        place = _Place(self._members, user)
        try:
            # the place in the queue is held from here, so the limits hold while pictures load
            async with self.bot.jobs.reserve(user) as slot:
                self.bot.cooldowns.start(user)
                if server_cooldown is not None:
                    server_cooldown.start(user)
                await interaction.response.defer(thinking=True)
                data = picture if isinstance(picture, bytes) else await picture()
                steer = guide if isinstance(guide, bytes) or guide is None else await guide()
                plan = await prepare(data) if prepare is not None else JobPlan()
                if not reply.to_channel and await self._expected_s(plan) > reply.seconds_left:
                    reply.notice = TO_DMS
                record = await self.store.add(
                    user_id=user,
                    guild_id=guild,
                    channel_id=postable_channel(interaction),
                    params=params,
                    picture=data,
                    kind=kind,
                    parent=parent,
                    interaction_id=interaction.id,
                    interaction_token=interaction.token,
                    max_bytes=interaction.filesize_limit,
                    # a restart resumes a moving dream as one (kind, animation)
                    job_kind=plan.kind,
                    animation=plan.animation,
                    note=plan.note,
                    guide=steer,
                    spoiler=spoiler,
                )
                request = JobRequest(
                    user_id=user,
                    picture=data,
                    params=params,
                    max_bytes=interaction.filesize_limit,
                    origin=origin_of(interaction),
                    kind=plan.kind,
                    animation=plan.animation,
                    guide=steer,
                )
                try:
                    job = await slot.submit(request)
                except ShuttingDown as error:
                    await self._interrupted(record, reply, error)
                    return
            await self._answer(job, reply, record=record, place=place)
        finally:
            place.release()

    async def _expected_s(self, plan: JobPlan) -> float:
        """About how long until a dream queued now is finished: the dreams ahead of it, each
        taking a recent dream's median time (else this one's estimate), then its own."""
        typical = await self._typical_s()
        if typical is None:
            typical = plan.seconds or 0.0
        ahead = self.bot.jobs.waiting + self.bot.jobs.running
        return ahead * typical + (plan.seconds if plan.seconds is not None else typical)

    def _server_cooldown(self, guild: int | None, rules: Rules) -> Cooldowns | None:
        # the bot's own cooldown is always checked; a server's longer one is checked besides
        if guild is None or rules.cooldown_s <= self.bot.settings.dream_cooldown_s:
            return None
        cooldowns = self._server_cooldowns.get(guild)
        if cooldowns is None:
            cooldowns = self._server_cooldowns[guild] = Cooldowns(rules.cooldown_s)
        cooldowns.seconds = rules.cooldown_s
        return cooldowns

    async def _answer(
        self, job: Job, reply: Reply, *, record: DreamRecord | None, place: _Place | None
    ) -> None:
        """Follow ``job`` to its end and answer its member: the one path for every dream, new
        or taken over, shown as a card (`result_view`) with the member's picture beside it.
        Without a ``record`` (a job another bot process stored) the card comes without
        controls; without the results cog, the result is a line and the picture. Errors are
        raised for the caller to tell."""
        if record is not None:
            self._active[record.id] = (record, job)
        try:
            try:
                result = await self._follow(job, reply, record)
            finally:
                job.cancel()  # only does something if we were interrupted
                if record is not None:
                    self._active.pop(record.id, None)
                if place is not None:
                    place.release()  # the member may ask again while the answer is sent
        except ShuttingDown as error:
            if record is None:
                raise
            await self._interrupted(record, reply, error)
            return
        except Exception as error:
            if record is not None:
                # the member hears of it first; the record follows in the store's own time
                self._spawn(self.store.failed(record.id, str(error) or type(error).__name__))
            raise
        picture = result.picture
        request = job.request
        note = record.note if record is not None else None
        line = summary(
            request.params,
            result.seconds,
            kind=request.kind,
            animation=request.animation,
            note=note,
            guided=request.guide is not None,
        )
        shown = record
        if record is not None:
            done = await self.store.finished(
                record.id, picture=picture.data, filename=picture.filename, seconds=result.seconds
            )
            shown = done or record
        dreamed = (picture.data, picture.filename)
        if self.result_view is None:
            message = await reply.finish(line, pictures=[dreamed])
        else:
            original = None
            # a zoom starts from the member's picture, so it shows the picture itself
            if shown is not None and shown.job_kind is not JobKind.ZOOM:
                original = await self.store.input_picture(shown.origin_id)
            card, pictures = await self.result_view(
                Finished(
                    line=line,
                    recipe=describe(request.params, guided=request.guide is not None),
                    user_id=reply.interaction.user.id,
                    picture=dreamed,
                    finished_at=(shown.finished_at if shown is not None else None) or time.time(),
                    spoiler=shown.spoiler if shown is not None else False,
                    record=shown,
                    original=original,
                    max_bytes=request.max_bytes,
                )
            )
            message = await reply.finish(card, pictures=pictures)
        if record is not None and message is not None:
            await self.store.delivered(
                record.id, channel_id=message.channel.id, message_id=message.id
            )

    async def _follow(self, job: Job, reply: Reply, record: DreamRecord | None) -> JobResult:
        """Keep the deferred reply showing the queue position, then the progress (throttled)."""
        throttle = Throttle()
        shown: str | None = None
        started = False
        async for status in job.watch():
            if status.finished:
                break
            if status.state is JobState.RUNNING and not started:
                started = True
                if record is not None:
                    await self.store.started(record.id)
            text = status_text(status)
            if text == shown:
                continue
            # a new position or the start always shows; step-by-step progress at most every 2 s
            steady = status.state is JobState.RUNNING and status.progress is not None
            if not throttle.ready(force=not steady):
                continue
            await reply.update(text)
            shown = text
        return await job.result()

    async def _interrupted(self, record: DreamRecord, reply: Reply, error: ShuttingDown) -> None:
        """The bot stops before the dream finished: keep it for the next start if its member can
        still be answered then; otherwise it fails with the restart notice."""
        if token_left(record) < _KEEP_IF_LEFT:
            await self.store.failed(record.id, str(error))
            raise error
        await self.store.requeue(record.id)
        log.info("Keeping dream %s of user %s for the next start", record.id, record.user_id)
        await reply.refuse(RESTARTING, private=False)

    # ---- after a restart ------------------------------------------------------------------------

    async def resume(self) -> int:
        """Queue again, in their order, the dreams a stop interrupted whose members can still be
        answered in the same message; tell the others. Returns how many were queued again.

        A backend whose jobs outlive the bot (Celery) hands them back itself (`take_over`).
        """
        if isinstance(self.bot.jobs, Resumable):
            return 0
        resumed = 0
        for record in await self.store.unfinished():
            reply = Reply(StoredInteraction.from_record(self.bot, record).as_interaction())
            try:
                job = await self._requeue(record)
            except ShuttingDown:
                continue  # stopping again already: it waits for the next start
            except BotError as error:
                await self.store.failed(record.id, str(error))
                await tell_error(reply, error, private=False, what="a resumed dream")
                continue
            if job is None:
                await self.store.failed(record.id, "the bot restarted too late to answer it")
                await self._tell(reply, LOST)
                continue
            resumed += 1
            place = _Place(self._members, record.user_id)
            self._spawn(self._resume(job, reply, record=record, place=place))
        return resumed

    async def _requeue(self, record: DreamRecord) -> Job | None:
        if token_left(record) < _RESUME_IF_LEFT:
            return None
        data = await self.store.input_picture(record.id)
        guide = await self.store.guide_picture(record.id) if record.has_guide else None
        if data is None or (record.has_guide and guide is None):
            return None
        request = JobRequest(
            user_id=record.user_id,
            picture=data,
            params=record.params,
            max_bytes=record.max_bytes,
            origin=record_origin(self.bot.application_id, record),
            kind=record.job_kind,
            animation=record.animation,
            guide=guide,
        )
        job = await self.bot.jobs.submit(request)
        log.info("Queued dream %s of user %s again after a restart", record.id, record.user_id)
        return job

    async def _resume(
        self, job: Job, reply: Reply, *, record: DreamRecord | None, place: _Place | None
    ) -> None:
        self.bot.track_current_task()
        try:
            await reply.update(RESUMED)
            await self._answer(job, reply, record=record, place=place)
        except Exception as error:
            await tell_error(reply, error, private=False, what="a resumed dream")
        finally:
            if place is not None:
                place.release()

    async def take_over(self, job: Job) -> None:
        """Answer a job a stopped bot process left in the backend (Celery) like any dream: with
        its controls when its record is here, without them when another process stored it."""
        self.bot.track_current_task()
        origin = job.request.origin
        if origin is None:
            log.info("%r has nobody to answer; following it only", job)
            with contextlib.suppress(Exception):
                await job.result()
            return
        record = await self.store.by_token(origin.token)
        if record is None:
            interaction = StoredInteraction.from_origin(self.bot, origin).as_interaction()
            await self._resume(job, Reply(interaction), record=None, place=None)
            return
        place = _Place(self._members, record.user_id)
        interaction = StoredInteraction.from_record(self.bot, record).as_interaction()
        await self._resume(job, Reply(interaction), record=record, place=place)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)  # a reference, so the task is not collected midway
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (error := task.exception()) is not None:
            log.error("A background task of the dreams failed", exc_info=error)

    @staticmethod
    async def _tell(reply: Reply, text: str) -> None:
        try:
            await reply.refuse(text, private=False)
        except discord.HTTPException as error:
            log.warning("Could not tell user %s: %s", reply.interaction.user.id, error)

    # ---- for members and the cleanup ------------------------------------------------------------

    async def queue_view(self, user_id: int) -> QueueView:
        positions: list[int] = []
        mine_running = running = False
        queued = 0
        for record, job in self._active.values():
            status = job.status
            if status.state is JobState.RUNNING:
                running = True
                mine_running = mine_running or record.user_id == user_id
            elif status.state is JobState.QUEUED:
                queued += 1
                if record.user_id == user_id and status.position is not None:
                    positions.append(status.position)
        # the backend also counts dreams started elsewhere (other bot processes)
        waiting = self.bot.jobs.waiting
        running = running or bool(self.bot.jobs.running)
        return QueueView(
            waiting=max(waiting, queued),
            running=running,
            positions=tuple(sorted(positions)),
            mine_running=mine_running,
            typical_s=await self._typical_s(),
        )

    async def _typical_s(self) -> float | None:
        """A recent dream's engine time (the median of the last 20); None without history."""
        recent = await self.store.recent_seconds(20)
        return statistics.median(recent) if recent else None

    async def cleanup(self, *, now: float | None = None) -> int:
        """Delete the pictures older than the retention; returns how many files went."""
        deleted = await self.store.purge(older_than_s=self.retention_days * 86_400, now=now)
        if deleted:
            log.info("Deleted %d pictures older than %g days", deleted, self.retention_days)
        return deleted
