"""The bot's one error tree; every message is meant for the member who sees it.

    BotError
    ├── AttachmentRejected   the attachment cannot be dreamed (wrong kind, too big, missing)
    ├── OptionRejected       a command option the bot cannot use (unknown model)
    ├── OnCooldown           the member asked again too soon
    ├── QueueFull            too many dreams waiting for everyone
    ├── UserQueueFull        this member already has as many dreams waiting as allowed
    ├── JobCancelled         the dream was cancelled before it finished
    └── ShuttingDown         the bot is stopping and takes no more work

Engine errors (``engine.DreamError``) carry their own messages and are shown as they are.
"""

from __future__ import annotations

__all__ = [
    "AttachmentRejected",
    "BotError",
    "JobCancelled",
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
