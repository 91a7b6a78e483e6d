"""The control plane of cascaded rooms in Redis: a room's pipe key, fenced by its lease epoch,
and the addresses of its pipe ends.

- ``giaoban:media:pipekey:<code>`` holds ``"<epoch>:<hex key>"``. The lease holder issues it
  when it opens the room at epoch E (:func:`issue_key`) and re-issues it with every heartbeat,
  which only renews the TTL: the same epoch always gets the same key. A holder of a newer
  epoch replaces it with a fresh key; a holder of an older epoch (a worker resumed after its
  lease was taken over) gets None and must not pipe the room. A worker that hosts part of the
  room reads it (:func:`read_key`), never writes it.
- ``giaoban:media:pipes:<code>`` is a hash ``"<from>><to>"`` -> ``{"host", "port", "epoch"}``:
  where worker ``from``'s pipe to worker ``to`` listens, for the room at that epoch
  (:func:`publish_end`, :func:`pipe_ends`). Ends of another epoch are ignored: they were keyed
  with a key that no longer exists.
- :class:`RoomCascade` keeps one room's pipes in step with that state: a pipe to each other
  worker named for the room, opened with the current key, connected once the other end is
  published, re-opened when the epoch changes, closed when the worker is no longer named.

The lease holder's pipes lead: its room's slot decisions reach the other workers' rooms over
them. Which workers host a room (cascaded joins through ``LeasedRouter.overflow``) is not
decided here.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from typing import Any

from media_worker.sfu import PipeError, Room, RoomPipe
from media_worker.sfu.pipe import pipe_key

logger = logging.getLogger(__name__)

KEY_PREFIX = "giaoban:media:pipekey:"
ENDS_PREFIX = "giaoban:media:pipes:"
PIPE_TTL = 6.0  # seconds a key or an end lives without renewal (= runner.LEASE_TTL)

ISSUE = """
local current = redis.call('get', KEYS[1])
if current then
  local epoch = tonumber(string.match(current, '^(%d+):'))
  if epoch and epoch > tonumber(ARGV[1]) then return false end
  if epoch and epoch == tonumber(ARGV[1]) then
    redis.call('pexpire', KEYS[1], ARGV[3])
    return current
  end
end
local value = ARGV[1] .. ':' .. ARGV[2]
redis.call('set', KEYS[1], value, 'PX', ARGV[3])
return value
"""


def key_key(code: str) -> str:
    return f"{KEY_PREFIX}{code}"


def ends_key(code: str) -> str:
    return f"{ENDS_PREFIX}{code}"


def _check_code_epoch(code: str, epoch: int) -> None:
    if not isinstance(code, str) or not code:
        raise ValueError("a room code must be a non-empty string")
    if not isinstance(epoch, int) or isinstance(epoch, bool) or epoch < 0:
        raise ValueError("a lease epoch must be an integer >= 0")


def _decode_key(raw: Any) -> tuple[int, bytes] | None:
    if raw is None:
        return None
    text = raw.decode() if isinstance(raw, bytes) else str(raw)
    epoch, _, hex_key = text.partition(":")
    try:
        return int(epoch), bytes.fromhex(hex_key)
    except ValueError:
        logger.warning("malformed pipe key record %r", text[:40])
        return None


async def issue_key(client: Any, code: str, epoch: int) -> bytes | None:
    """The room's pipe key for the lease holder at ``epoch`` (a fresh one for a new epoch, the
    same one again for the same epoch, TTL renewed); None if a newer epoch holds the room."""
    _check_code_epoch(code, epoch)
    raw = await client.eval(
        ISSUE, 1, key_key(code), str(epoch), pipe_key().hex(), int(PIPE_TTL * 1000)
    )
    found = _decode_key(raw)
    return found[1] if found is not None else None


async def read_key(client: Any, code: str, *, min_epoch: int = 0) -> tuple[int, bytes] | None:
    """``(epoch, key)`` of the room's current pipe key, or None (none, or older than
    ``min_epoch``)."""
    found = _decode_key(await client.get(key_key(code)))
    if found is None or found[0] < min_epoch:
        return None
    return found


async def publish_end(
    client: Any, code: str, *, name: str, peer: str, address: tuple[str, int], epoch: int
) -> None:
    """Where ``name``'s pipe to ``peer`` for the room listens (renewed with every heartbeat)."""
    _check_code_epoch(code, epoch)
    value = json.dumps({"host": address[0], "port": int(address[1]), "epoch": epoch})
    async with client.pipeline(transaction=True) as pipe:
        pipe.hset(ends_key(code), f"{name}>{peer}", value)
        pipe.pexpire(ends_key(code), int(PIPE_TTL * 1000))
        await pipe.execute()


async def withdraw_ends(client: Any, code: str, *, name: str) -> None:
    """Take every pipe end of worker ``name`` out of the room (it stops hosting it)."""
    fields = [f for f in await client.hkeys(ends_key(code)) if _field(f).startswith(f"{name}>")]
    if fields:
        await client.hdel(ends_key(code), *fields)


def _field(raw: Any) -> str:
    return raw.decode() if isinstance(raw, bytes) else str(raw)


async def pipe_ends(
    client: Any, code: str, *, epoch: int
) -> dict[tuple[str, str], tuple[str, int]]:
    """``(from, to) -> (host, port)`` of the room's published pipe ends of ``epoch``."""
    out: dict[tuple[str, str], tuple[str, int]] = {}
    for raw_field, raw_value in (await client.hgetall(ends_key(code))).items():
        source, _, target = _field(raw_field).partition(">")
        try:
            value = json.loads(raw_value)
            if value["epoch"] != epoch or not source or not target:
                continue
            out[(source, target)] = (str(value["host"]), int(value["port"]))
        except (ValueError, KeyError, TypeError):
            logger.warning("room %s: malformed pipe end %r", code, raw_field)
    return out


class RoomCascade:
    """One worker's pipes for one room, kept in step with Redis by :meth:`sync`.

    :param name: this worker's name among the room's workers (its Celery node name).
    :param host: the internal-network address its pipe sockets bind to.
    :param leads: this worker holds the room's lease: its room's slot decisions are sent over
        its pipes and applied by the other workers' rooms.
    """

    def __init__(
        self, room: Room, code: str, *, name: str, host: str = "127.0.0.1", leads: bool = False
    ) -> None:
        self.room = room
        self.leads = leads
        self.code = code
        self.name = name
        self.host = host
        self.epoch: int | None = None
        self.pipes: dict[str, RoomPipe] = {}  # peer name -> our pipe to it
        self.connected: set[str] = set()

    async def sync(self, client: Any, peers: Iterable[str]) -> None:
        """Pipes to exactly ``peers`` (the room's other workers), under the room's current
        key: open the missing ones and publish where they listen, connect those whose other
        end is published, close the rest. Without a key (no holder yet) it closes them all."""
        wanted = {p for p in peers if p != self.name}
        found = await read_key(client, self.code, min_epoch=self.epoch or 0)
        if found is None or found[0] != self.epoch:
            await self.close()  # a new key (a new lease holder), or none: start over
        if found is None:
            return
        self.epoch, key = found
        for peer in [p for p in self.pipes if p not in wanted]:
            await self._close_pipe(peer)
        for peer in wanted - set(self.pipes):
            try:
                self.pipes[peer] = await RoomPipe.open(
                    self.room,
                    key=key,
                    name=self.name,
                    peer_name=peer,
                    host=self.host,
                    leads=self.leads,
                )
            except (PipeError, OSError) as exc:
                logger.warning(
                    "room %s: no pipe from %s to %s: %s", self.code, self.name, peer, exc
                )
        for peer, pipe in self.pipes.items():
            await publish_end(
                client, self.code, name=self.name, peer=peer, address=pipe.address, epoch=self.epoch
            )
        ends = await pipe_ends(client, self.code, epoch=self.epoch)
        for peer, pipe in self.pipes.items():
            address = ends.get((peer, self.name))
            if address is not None and (
                peer not in self.connected or pipe.remote_address != address
            ):
                pipe.connect(*address)
                self.connected.add(peer)

    async def _close_pipe(self, peer: str) -> None:
        pipe = self.pipes.pop(peer)
        self.connected.discard(peer)
        await pipe.close()

    async def close(self) -> None:
        """Close every pipe of this worker for the room (safe twice)."""
        for peer in list(self.pipes):
            await self._close_pipe(peer)
        self.epoch = None
