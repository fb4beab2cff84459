"""Running a dream for a member: the `Dreams` service (admission, records, the job, the answer),
a server's rules, what a downloaded picture becomes (`JobPlan`), the texts members read, and the
stand-in for an interaction rebuilt from a stored origin. Below the cogs, above the jobs."""

from bot.dreams._plans import (
    FIRST_FRAME_ONLY,
    NO_ZOOMS,
    JobPlan,
    animation_params,
    check_time,
    last_frame,
    plan_picture,
    plan_zoom,
)
from bot.dreams._rules import MAX_OCTAVES, MAX_STEPS, Rules, asked_options
from bot.dreams._service import LOST, RESTARTING, RESUMED, TO_DMS, Dreams, QueueView
from bot.dreams._stored import StoredInteraction, origin_of, record_origin
from bot.dreams._texts import (
    SOMETHING_WENT_WRONG,
    class_name,
    count,
    describe,
    explain,
    gone,
    info_text,
    kept_for,
    layer_name,
    summary,
    tell_error,
    token_left,
)

__all__ = [
    "FIRST_FRAME_ONLY",
    "LOST",
    "MAX_OCTAVES",
    "MAX_STEPS",
    "NO_ZOOMS",
    "RESTARTING",
    "RESUMED",
    "SOMETHING_WENT_WRONG",
    "TO_DMS",
    "Dreams",
    "JobPlan",
    "QueueView",
    "Rules",
    "StoredInteraction",
    "animation_params",
    "asked_options",
    "check_time",
    "class_name",
    "count",
    "describe",
    "explain",
    "gone",
    "info_text",
    "kept_for",
    "last_frame",
    "layer_name",
    "origin_of",
    "plan_picture",
    "plan_zoom",
    "record_origin",
    "summary",
    "tell_error",
    "token_left",
]
