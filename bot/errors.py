"""The bot's one error tree; every message is meant for the member who sees it.

    BotError
    ├── AttachmentRejected   the attachment cannot be dreamed (wrong kind, too big, missing)
    ├── OptionRejected       a command option the bot cannot use (unknown model)
    ├── NotHere              dreams are not allowed in this channel
    ├── OnCooldown           the member asked again too soon
    ├── QueueFull            too many dreams waiting for everyone
    ├── UserQueueFull        this member already has as many dreams waiting as allowed
    ├── AlreadyDreaming      a control was clicked again while its dream is on its way
    ├── Gone                 the dream, or the picture a control needs, is no longer stored
    ├── NotYours             someone else's dream, and no right to manage messages
    ├── CannotReadVideo      an MP4 result cannot be read back to dream it deeper
    ├── JobCancelled         the dream was cancelled before it finished
    ├── ShuttingDown         the bot is stopping and takes no more work
    ├── JobFailed            (bot.jobs.celery) a worker reported a failure, with its message
    └── CodecError           (bot.jobs.codec) a stored or sent dream cannot be read

Engine errors (``engine.DreamError``) carry their own messages and are shown as they are;
``bot.storage.StorageError`` is the operator's (a data folder the bot cannot use), not a member's.
"""

from __future__ import annotations

__all__ = [
    "AlreadyDreaming",
    "AttachmentRejected",
    "BotError",
    "CannotReadVideo",
    "Gone",
    "JobCancelled",
    "NotHere",
    "NotYours",
    "OnCooldown",
    "OptionRejected",
    "QueueFull",
    "ShuttingDown",
    "UserQueueFull",
]


class BotError(Exception):
    """Base of the bot's own errors; ``str(error)`` is a message for a member."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class AttachmentRejected(BotError):
    """The attachment cannot be dreamed."""


class OptionRejected(BotError):
    """A command option the bot cannot use."""


class NotHere(BotError):
    """Dreams are not allowed in this channel of the server."""


class AlreadyDreaming(BotError):
    """The same control was clicked while its dream is still on its way."""

    def __init__(self) -> None:
        super().__init__("That dream is already on its way; it will appear in a moment.")


class Gone(BotError):
    """The dream, or the picture a control needs, is no longer stored."""


class NotYours(BotError):
    """Someone else's dream, and no right to manage messages here."""


class CannotReadVideo(BotError):
    """The result is an MP4 video, which the bot writes but cannot read back."""


class OnCooldown(BotError):
    """The member asked again before their cooldown ended."""

    def __init__(self, retry_after: float) -> None:
        seconds = max(1, round(retry_after))
        super().__init__(f"Easy there, give me {seconds} s before your next dream.")
        self.retry_after = retry_after


class QueueFull(BotError):
    """Too many dreams are waiting."""

    def __init__(self, limit: int) -> None:
        super().__init__(
            f"The dream queue is full ({limit} waiting). Please try again in a few minutes."
        )
        self.limit = limit


class UserQueueFull(BotError):
    """This member already has as many dreams in the queue as allowed."""

    def __init__(self, limit: int) -> None:
        plural = "dream" if limit == 1 else "dreams"
        super().__init__(
            f"You already have {limit} {plural} in the queue. Wait for one to finish first."
        )
        self.limit = limit


class JobCancelled(BotError):
    """The dream was cancelled before it finished."""

    def __init__(self, message: str = "This dream was cancelled.") -> None:
        super().__init__(message)


class ShuttingDown(BotError):
    """The bot is stopping and takes no more work."""

    def __init__(
        self, message: str = "I'm restarting and can't take new dreams right now. Try again soon."
    ) -> None:
        super().__init__(message)
