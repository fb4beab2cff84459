"""The Redis side of the Celery backend, shared by the bot and the workers: key layout, the Lua
scripts that keep limits, job states and the running jobs' leases atomic, and a job's hash form."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from typing import Any

from bot.jobs import codec
from bot.jobs.base import JobRequest
from bot.jobs.codec import CodecError
from engine import FrameProgress, Progress

__all__ = [
    "ADOPT",
    "CANCEL",
    "FINISH",
    "JOB_TTL_S",
    "LEASE_S",
    "MAX_ATTEMPTS",
    "POISON_MESSAGE",
    "PROGRESS",
    "REAP",
    "RELEASE",
    "RENEW",
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
# A running job's lease lives this long unless its worker renews it (every quarter of it); once
# it lapses (the worker died, or lost Redis) a bot process puts the job back in its queue.
LEASE_S = 20.0
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
    pictures, ``:guide`` a guide picture, ``:cancel`` and ``:posted`` flags, ``:lease`` (the
    running worker's, with a TTL); sorted sets by submit time: ``{p}:pending`` (not yet
    answered), ``{p}:waiting`` and ``{p}:waiting:{model}`` (not started), ``{p}:user:{id}``
    (waiting or running), ``{p}:slots`` (places held while downloading), ``{p}:running``
    (started, by start time); heartbeats ``{p}:bot:{instance}`` and ``{p}:worker:{name}``; the
    ``{p}:events`` channel.
    """

    prefix: str = "deepdream"

    def job(self, job_id: str) -> str:
        return f"{self.prefix}:job:{job_id}"

    def picture_in(self, job_id: str) -> str:
        return f"{self.prefix}:job:{job_id}:in"

    def guide(self, job_id: str) -> str:
        return f"{self.prefix}:job:{job_id}:guide"

    def picture_out(self, job_id: str) -> str:
        return f"{self.prefix}:job:{job_id}:out"

    def cancel(self, job_id: str) -> str:
        return f"{self.prefix}:job:{job_id}:cancel"

    def posted(self, job_id: str) -> str:
        return f"{self.prefix}:job:{job_id}:posted"

    def lease(self, job_id: str) -> str:
        return f"{self.prefix}:job:{job_id}:lease"

    @property
    def running(self) -> str:
        return f"{self.prefix}:running"

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

# KEYS: slots, user set, waiting, waiting for the model, pending, job, picture in, guide.
# ARGV: slot member, job id, job ttl, picture, guide picture ('' for none), then the job's
# field/value pairs. -> the job's place in its model's queue (1 = next).
SUBMIT = (
    _NOW
    + """
redis.call('ZREM', KEYS[1], ARGV[1])
for i = 2, 5 do redis.call('ZADD', KEYS[i], now, ARGV[2]) end
redis.call('HSET', KEYS[6], 'created', tostring(now), 'state', 'queued', unpack(ARGV, 6))
redis.call('EXPIRE', KEYS[6], ARGV[3])
redis.call('SET', KEYS[7], ARGV[4], 'EX', ARGV[3])
if ARGV[5] ~= '' then redis.call('SET', KEYS[8], ARGV[5], 'EX', ARGV[3]) end
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
redis.call('ZREM', prefix .. ':running', id)
redis.call('DEL', job .. ':in', job .. ':guide', job .. ':lease')
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

# ARGV: prefix, job id, worker name, max attempts, job ttl, result ttl, poison message, lease
# ms. -> 'run' (the job's run token is worker#attempt, held in its lease), or why not: 'gone',
# 'finished', 'cancelled', 'poison', 'duplicate' (another worker holds its lease: a message
# delivered twice).
START = (
    _NOW
    + """
local prefix, id, result_ttl = ARGV[1], ARGV[2], ARGV[6]
local job = prefix .. ':job:' .. id
if redis.call('EXISTS', job) == 0 then return 'gone' end
local state = redis.call('HGET', job, 'state')
if state == 'done' or state == 'failed' then return 'finished' end
if state == 'running' and redis.call('EXISTS', job .. ':lease') == 1 then return 'duplicate' end
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
  local run = ARGV[3] .. '#' .. redis.call('HGET', job, 'attempts')
  redis.call('HSET', job, 'state', 'running', 'worker', ARGV[3], 'progress', '', 'run', run)
  redis.call('EXPIRE', job, ARGV[5])
  redis.call('EXPIRE', job .. ':in', ARGV[5])
  redis.call('EXPIRE', job .. ':guide', ARGV[5])
  if ARGV[8] then
    redis.call('SET', job .. ':lease', run, 'PX', ARGV[8])
    redis.call('ZADD', prefix .. ':running', now, id)
  end
else
"""
    + _FORGET
    + """
end
redis.call('PUBLISH', prefix .. ':events', id)
return verdict
"""
)

# ARGV: prefix, job id, run token, lease ms. -> 1 the lease is this run's for another lease ms
# (taken back if it lapsed while nobody requeued the job), 0 the job is no longer this run's.
RENEW = """
local job = ARGV[1] .. ':job:' .. ARGV[2]
local lease = job .. ':lease'
local held = redis.call('GET', lease)
if held == ARGV[3] then
  redis.call('PEXPIRE', lease, ARGV[4])
  return 1
end
if not held and redis.call('HGET', job, 'state') == 'running'
    and redis.call('HGET', job, 'run') == ARGV[3] then
  redis.call('SET', lease, ARGV[3], 'PX', ARGV[4])
  return 1
end
return 0
"""

# ARGV: prefix, job id, run token, progress JSON. -> 0 go on, 1 cancelled, 2 no longer this
# run's (its lease lapsed and the job went to another worker): stop, and report nothing.
PROGRESS = """
local prefix, id = ARGV[1], ARGV[2]
local job = prefix .. ':job:' .. id
if redis.call('HGET', job, 'run') ~= ARGV[3] then return 2 end
redis.call('HSET', job, 'progress', ARGV[4])
redis.call('PUBLISH', prefix .. ':events', id)
return redis.call('EXISTS', job .. ':cancel')
"""

# ARGV: prefix, job id, run token. A run that will be retried (Celery sends the task again) gives
# the job back to the queue's bookkeeping, so its lapsed lease does not requeue it a second time.
RELEASE = (
    _NOW
    + """
local prefix, id = ARGV[1], ARGV[2]
local job = prefix .. ':job:' .. id
if redis.call('HGET', job, 'run') ~= ARGV[3] then return 0 end
redis.call('HSET', job, 'state', 'queued', 'run', '', 'progress', '')
redis.call('DEL', job .. ':lease')
redis.call('ZREM', prefix .. ':running', id)
local model = redis.call('HGET', job, 'model')
if model then redis.call('ZADD', prefix .. ':waiting:' .. model, now, id) end
redis.call('ZADD', prefix .. ':waiting', now, id)
return 1
"""
)

# ARGV: prefix, max attempts, result ttl, poison message. Every started job whose lease lapsed
# goes back to its queue ('requeued': the caller sends its task again) or, after its last
# attempt, fails ('poison'). Atomic, so each lapse is handled once, whoever else runs this.
# -> a flat list of job id, model, verdict.
REAP = (
    _NOW
    + """
local prefix, result_ttl = ARGV[1], ARGV[3]
local handled = {}
for _, id in ipairs(redis.call('ZRANGE', prefix .. ':running', 0, -1)) do
  local job = prefix .. ':job:' .. id
  if redis.call('EXISTS', job .. ':lease') == 0 then
    redis.call('ZREM', prefix .. ':running', id)
    if redis.call('HGET', job, 'state') == 'running' then
      local job_model = redis.call('HGET', job, 'model') or ''
      local verdict = 'requeued'
      if tonumber(redis.call('HGET', job, 'attempts') or '0') >= tonumber(ARGV[2]) then
        verdict = 'poison'
        redis.call('HSET', job, 'state', 'failed', 'error', 'JobFailed', 'message', ARGV[4])
"""
    + _FORGET
    + """
      else
        redis.call('HSET', job, 'state', 'queued', 'run', '', 'worker', '', 'progress', '',
          'requeued', tostring(now))
        if job_model ~= '' then
          redis.call('ZADD', prefix .. ':waiting:' .. job_model, now, id)
        end
        redis.call('ZADD', prefix .. ':waiting', now, id)
      end
      redis.call('PUBLISH', prefix .. ':events', id)
      table.insert(handled, id)
      table.insert(handled, job_model)
      table.insert(handled, verdict)
    end
  end
end
return handled
"""
)

# ARGV: prefix, job id, result ttl, run token ('' from a bot: not a worker's run), state ('done'
# or 'failed'), picture out ('' when failed), then field/value pairs. Forgets the job from the
# limits and keeps the result for a bot. -> 1, or 0 when the job is gone or finished, or a
# worker's run is no longer the job's (its lease lapsed): a late result is never kept twice.
FINISH = (
    """
local prefix, id, result_ttl = ARGV[1], ARGV[2], ARGV[3]
local job = prefix .. ':job:' .. id
if redis.call('EXISTS', job) == 0 then return 0 end
local state = redis.call('HGET', job, 'state')
if state == 'done' or state == 'failed' then return 0 end
if ARGV[4] ~= '' and (state ~= 'running' or redis.call('HGET', job, 'run') ~= ARGV[4]) then
  return 0
end
redis.call('HSET', job, 'state', ARGV[5], unpack(ARGV, 7))
if ARGV[5] == 'done' then redis.call('SET', job .. ':out', ARGV[6], 'EX', result_ttl) end
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


def decode_progress(raw: str | bytes | None) -> Progress | None:
    """A step's progress back; None when there is none yet, or it cannot be read."""
    if not raw:
        return None
    try:
        fields = json.loads(raw)
        cls = FrameProgress if isinstance(fields, dict) and "frame" in fields else Progress
        return codec.from_json(cls, fields, what="the dream's progress")
    except (ValueError, CodecError):
        return None


def request_fields(request: JobRequest) -> dict[str, str]:
    """The request as the job hash's fields (JSON in text); the picture travels separately.

    One field per part, so a reader of any version takes the parts it knows and ignores the rest.
    """
    data = codec.request_to_json(request)
    return {
        "user": str(request.user_id),
        "model": request.params.model,
        "params": json.dumps(data["params"]),
        "max_bytes": "" if request.max_bytes is None else str(request.max_bytes),
        "origin": "" if data["origin"] is None else json.dumps(data["origin"]),
        "kind": data["kind"],
        "animation": "" if data["animation"] is None else json.dumps(data["animation"]),
        # the guide picture itself is the job's :guide key
        "guided": "1" if request.guide is not None else "",
    }


def request_from_fields(
    fields: Mapping[str, str], picture: bytes, guide: bytes | None = None
) -> JobRequest:
    """The request back from the job hash's fields (decoded to str) with its pictures (a guided
    job's guide read without it is b""); `CodecError` if unreadable."""
    data: dict[str, Any] = {
        "user_id": _number(fields.get("user"), "the member"),
        "max_bytes": _number(fields.get("max_bytes") or None, "the upload limit"),
        "kind": fields.get("kind") or None,
    }
    for name in ("params", "origin", "animation"):
        raw = fields.get(name)
        if raw:
            try:
                data[name] = json.loads(raw)
            except ValueError as error:
                raise CodecError(f"I could not read the dream's {name}: {error}") from error
    request = codec.request_from_json(data, picture)
    if fields.get("guided"):
        request = dataclasses.replace(request, guide=guide or b"")
    return request


def _number(raw: str | None, what: str) -> int | None:
    if raw is None:
        return None
    try:
        return int(raw)
    except ValueError:
        raise CodecError(f"I could not read {what} of the dream: {raw!r}.") from None
