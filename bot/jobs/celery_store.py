"""The Redis side of the Celery backend, shared by the bot and the workers: key layout, the Lua
scripts that keep limits and job states atomic, and the JSON form of a job."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from typing import Any

from bot.jobs.base import JobRequest, Origin
from engine.params import DreamParams, Progress

__all__ = [
    "ADOPT",
    "CANCEL",
    "FINISH",
    "JOB_TTL_S",
    "MAX_ATTEMPTS",
    "POISON_MESSAGE",
    "RESERVE",
    "RESULT_TTL_S",
    "SLOT_TTL_S",
    "START",
    "SUBMIT",
    "Keys",
    "decode_fields",
    "decode_progress",
    "encode_progress",
    "request_fields",
    "request_from_fields",
    "text",
]

# A job's keys live this long while it waits or runs; limits forget members' jobs older than this.
JOB_TTL_S = 6 * 3600
# A finished job's result and state live this long for a bot to post them.
RESULT_TTL_S = 3600
# A place held while a picture downloads is given back after this, should its bot die.
SLOT_TTL_S = 300
# A job that fails (or kills its worker) this many times is given up.
MAX_ATTEMPTS = 3
POISON_MESSAGE = (
    f"This dream failed {MAX_ATTEMPTS} times on my dream workers, so I gave up on it. "
    "Please try another picture or other settings."
)


@dataclasses.dataclass(frozen=True, slots=True)
class Keys:
    """Every Redis key of one deployment, under ``prefix``.

    ``{p}:job:{id}`` hash (state, request, progress, result metadata), ``:in``/``:out`` the
    pictures, ``:cancel`` and ``:posted`` flags; sorted sets by submit time: ``{p}:pending``
    (not yet answered), ``{p}:waiting`` and ``{p}:waiting:{model}`` (not started),
    ``{p}:user:{id}`` (waiting or running), ``{p}:slots`` (places held while downloading);
    heartbeats ``{p}:bot:{instance}`` and ``{p}:worker:{name}``; the ``{p}:events`` channel.
    """

    prefix: str = "deepdream"

    def job(self, job_id: str) -> str:
        return f"{self.prefix}:job:{job_id}"

    def picture_in(self, job_id: str) -> str:
        return f"{self.prefix}:job:{job_id}:in"

    def picture_out(self, job_id: str) -> str:
        return f"{self.prefix}:job:{job_id}:out"

    def cancel(self, job_id: str) -> str:
        return f"{self.prefix}:job:{job_id}:cancel"

    def posted(self, job_id: str) -> str:
        return f"{self.prefix}:job:{job_id}:posted"

    @property
    def pending(self) -> str:
        return f"{self.prefix}:pending"

    @property
    def waiting(self) -> str:
        return f"{self.prefix}:waiting"

    def waiting_for(self, model: str) -> str:
        return f"{self.prefix}:waiting:{model}"

    def user(self, user_id: int | str) -> str:
        return f"{self.prefix}:user:{user_id}"

    @property
    def slots(self) -> str:
        return f"{self.prefix}:slots"

    def bot(self, instance: str) -> str:
        return f"{self.prefix}:bot:{instance}"

    def worker(self, name: str) -> str:
        return f"{self.prefix}:worker:{name}"

    @property
    def workers_pattern(self) -> str:
        return f"{self.prefix}:worker:*"

    @property
    def events(self) -> str:
        return f"{self.prefix}:events"


# The scripts build key names from the prefix themselves (a job's user and model are only known
# inside): fine on one Redis server, not on a Redis Cluster.

_NOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
"""

# KEYS: slots, user set, waiting. ARGV: slot ttl, job ttl, user id, slot member, user limit,
# queue limit. -> 1 held, -1 the member is at their limit, -2 the queue is full.
RESERVE = (
    _NOW
    + """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[1]))
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - tonumber(ARGV[2]))
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now - tonumber(ARGV[2]))
local mine = redis.call('ZCARD', KEYS[2])
local prefix = ARGV[3] .. ':'
for _, member in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  if string.sub(member, 1, #prefix) == prefix then mine = mine + 1 end
end
if mine >= tonumber(ARGV[5]) then return -1 end
if redis.call('ZCARD', KEYS[3]) + redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[6]) then
  return -2
end
redis.call('ZADD', KEYS[1], now, ARGV[4])
return 1
"""
)

# KEYS: slots, user set, waiting, waiting for the model, pending, job, picture in.
# ARGV: slot member, job id, job ttl, picture, then the job's field/value pairs.
# -> the job's place in its model's queue (1 = next).
SUBMIT = (
    _NOW
    + """
redis.call('ZREM', KEYS[1], ARGV[1])
for i = 2, 5 do redis.call('ZADD', KEYS[i], now, ARGV[2]) end
redis.call('HSET', KEYS[6], 'created', tostring(now), 'state', 'queued', unpack(ARGV, 5))
redis.call('EXPIRE', KEYS[6], ARGV[3])
redis.call('SET', KEYS[7], ARGV[4], 'EX', ARGV[3])
return redis.call('ZRANK', KEYS[4], ARGV[2]) + 1
"""
)

# ARGV: prefix, job id, this bot's instance. -> 1 now watched by this bot, 0 watched by a live
# one, -1 gone (forgotten from pending).
ADOPT = """
local job = ARGV[1] .. ':job:' .. ARGV[2]
if redis.call('EXISTS', job) == 0 then
  redis.call('ZREM', ARGV[1] .. ':pending', ARGV[2])
  return -1
end
local watcher = redis.call('HGET', job, 'watcher')
if watcher and watcher ~= ARGV[3] and redis.call('EXISTS', ARGV[1] .. ':bot:' .. watcher) == 1 then
  return 0
end
redis.call('HSET', job, 'watcher', ARGV[3])
return 1
"""

_FORGET = """
local user = redis.call('HGET', job, 'user')
local model = redis.call('HGET', job, 'model')
if user then redis.call('ZREM', prefix .. ':user:' .. user, id) end
if model then redis.call('ZREM', prefix .. ':waiting:' .. model, id) end
redis.call('ZREM', prefix .. ':waiting', id)
redis.call('DEL', job .. ':in')
redis.call('EXPIRE', job, result_ttl)
"""

# ARGV: prefix, job id, result ttl. Sets the cancel flag; a job still waiting fails at once (1).
CANCEL = (
    """
local prefix, id, result_ttl = ARGV[1], ARGV[2], ARGV[3]
local job = prefix .. ':job:' .. id
redis.call('SET', job .. ':cancel', '1', 'EX', result_ttl)
if redis.call('HGET', job, 'state') ~= 'queued' then return 0 end
redis.call('HSET', job, 'state', 'failed', 'error', 'JobCancelled', 'message', '')
"""
    + _FORGET
    + """
redis.call('PUBLISH', prefix .. ':events', id)
return 1
"""
)

# ARGV: prefix, job id, worker name, max attempts, job ttl, result ttl, poison message.
# -> 'run', or why not: 'gone', 'finished', 'cancelled', 'poison'.
START = (
    """
local prefix, id, result_ttl = ARGV[1], ARGV[2], ARGV[6]
local job = prefix .. ':job:' .. id
if redis.call('EXISTS', job) == 0 then return 'gone' end
local state = redis.call('HGET', job, 'state')
if state == 'done' or state == 'failed' then return 'finished' end
local verdict = 'run'
if redis.call('EXISTS', job .. ':cancel') == 1 then
  verdict = 'cancelled'
  redis.call('HSET', job, 'state', 'failed', 'error', 'JobCancelled', 'message', '')
elseif redis.call('HINCRBY', job, 'attempts', 1) > tonumber(ARGV[4]) then
  verdict = 'poison'
  redis.call('HSET', job, 'state', 'failed', 'error', 'JobFailed', 'message', ARGV[7])
  redis.call('HINCRBY', job, 'attempts', -1)
end
if verdict == 'run' then
  local model = redis.call('HGET', job, 'model')
  if model then redis.call('ZREM', prefix .. ':waiting:' .. model, id) end
  redis.call('ZREM', prefix .. ':waiting', id)
  redis.call('HSET', job, 'state', 'running', 'worker', ARGV[3], 'progress', '')
  redis.call('EXPIRE', job, ARGV[5])
  redis.call('EXPIRE', job .. ':in', ARGV[5])
else
"""
    + _FORGET
    + """
end
redis.call('PUBLISH', prefix .. ':events', id)
return verdict
"""
)

# ARGV: prefix, job id, result ttl, state ('done' or 'failed'), picture out ('' when failed),
# then field/value pairs. Forgets the job from the limits and keeps the result for a bot.
FINISH = (
    """
local prefix, id, result_ttl = ARGV[1], ARGV[2], ARGV[3]
local job = prefix .. ':job:' .. id
if redis.call('EXISTS', job) == 0 then return 0 end
redis.call('HSET', job, 'state', ARGV[4], unpack(ARGV, 6))
if ARGV[4] == 'done' then redis.call('SET', job .. ':out', ARGV[5], 'EX', result_ttl) end
"""
    + _FORGET
    + """
redis.call('PUBLISH', prefix .. ':events', id)
return 1
"""
)


def text(value: object) -> str:
    """A Redis reply as text (the clients here return bytes)."""
    return value.decode() if isinstance(value, bytes) else str(value)


def decode_fields(raw: Mapping[Any, Any]) -> dict[str, str]:
    """A hash from HGETALL as text."""
    return {text(name): text(value) for name, value in raw.items()}


def encode_progress(progress: Progress) -> str:
    """A step's progress as JSON (an animation's `FrameProgress` keeps its frame fields)."""
    return json.dumps(dataclasses.asdict(progress))


def decode_progress(text: str | bytes | None) -> Progress | None:
    if not text:
        return None
    fields = json.loads(text)
    if "frame" in fields:
        from engine import FrameProgress

        return FrameProgress(**fields)
    return Progress(**fields)


def _tuples(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def request_fields(request: JobRequest) -> dict[str, str]:
    """The request as the job hash's fields, JSON only; the picture travels separately."""
    return {
        "user": str(request.user_id),
        "model": request.params.model,
        "params": json.dumps(dataclasses.asdict(request.params)),
        "max_bytes": "" if request.max_bytes is None else str(request.max_bytes),
        "origin": "" if request.origin is None else json.dumps(dataclasses.asdict(request.origin)),
        "kind": request.kind,
        "animation": "" if request.animation is None else json.dumps(request.animation),
    }


def request_from_fields(fields: dict[str, str], picture: bytes) -> JobRequest:
    """The request back from the job hash's fields (decoded to str)."""
    params = {name: _tuples(value) for name, value in json.loads(fields["params"]).items()}
    origin = json.loads(fields["origin"]) if fields.get("origin") else None
    return JobRequest(
        user_id=int(fields["user"]),
        picture=picture,
        params=DreamParams(**params),
        max_bytes=int(fields["max_bytes"]) if fields.get("max_bytes") else None,
        origin=Origin(**origin) if origin is not None else None,
        kind=fields.get("kind") or "dream",
        animation=json.loads(fields["animation"]) if fields.get("animation") else None,
    )
