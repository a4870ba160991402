"""Devices in CQL (migrations/cql/0030_notify.cql): the DeviceStore port.

- `devices_by_user`: one partition per user, clustered by device id DESC (Snowflakes: most recently
  registered first). A user has at most domain.MAX_DEVICES_PER_USER devices, so `list` is one read
  of one small partition.
- `device_targets`: (platform, target) -> the one device of one user holding the token or address.
  Lightweight transactions only, never plain writes (Paxos and plain writes must not mix on a row):
  claim with INSERT IF NOT EXISTS, hand over with UPDATE ... IF user_id = ? AND device_id = ?,
  release with DELETE ... IF user_id = ? AND device_id = ?. When a round times out its outcome is
  open; a SERIAL read completes any round still in flight (or makes sure it never completes), so
  what it reads settles whether ours was applied.

Consistency: the session's LOCAL_QUORUM (a device registered is listed by the next read, on any
coordinator) and LOCAL_SERIAL for the transactions. Statements are prepared once (mesh.cql.prepare)
and run within the caller's deadline.
"""

from __future__ import annotations

from typing import Any

from cassandra import ConsistencyLevel
from cassandra.cluster import Session

from mesh import cql
from mesh.cql_rows import rows_of, utc
from mesh.errors import Unavailable
from svc_notify.adapters.cql_notifications import outcome_open
from svc_notify.domain import Device, Platform
from svc_notify.ports import TargetHolder

_COLUMNS = "user_id, device_id, platform, target, label, create_time"


def _device(row: Any) -> Device:
    return Device(
        device_id=row.device_id,
        user_id=row.user_id,
        platform=Platform(row.platform),
        target=row.target,
        label=row.label or "",
        create_time=utc(row.create_time),
    )


class CqlDeviceStore:
    def __init__(self, session: Session, keyspace: str):
        self._session = session
        self._ks = keyspace

    async def _run(self, query: str, parameters: tuple, *, consistency: int | None = None) -> list[Any]:
        statement = (await cql.prepare(self._session, query.format(ks=self._ks))).bind(parameters)
        if consistency is not None:
            statement.consistency_level = consistency
        return rows_of(await cql.execute(self._session, statement))

    # --- target claims (lightweight transactions only) ----------------------------------------

    async def _holder(self, platform: Platform, target: str, *, consistency: int | None = None) -> TargetHolder | None:
        rows = await self._run(
            "SELECT user_id, device_id FROM {ks}.device_targets WHERE platform = ? AND target = ?",
            (int(platform), target),
            consistency=consistency,
        )
        return TargetHolder(rows[0].user_id, rows[0].device_id) if rows else None

    async def _settled_holder(self, platform: Platform, target: str) -> TargetHolder | None:
        return await self._holder(platform, target, consistency=ConsistencyLevel.LOCAL_SERIAL)

    async def claim_target(self, platform: Platform, target: str, holder: TargetHolder) -> TargetHolder:
        try:
            (outcome,) = await self._run(
                "INSERT INTO {ks}.device_targets (platform, target, user_id, device_id) VALUES (?, ?, ?, ?) IF NOT EXISTS",
                (int(platform), target, holder.user_id, holder.device_id),
            )
        except Unavailable as exc:
            if not outcome_open(exc):
                raise
            current = await self._settled_holder(platform, target)
            if current is None:
                raise Unavailable("the device could not be registered in time; try again",
                                  reason="DEVICE_CLAIM_TIMEOUT") from None
            return current
        # a refused IF NOT EXISTS answers with the row that holds the target
        return holder if outcome.applied else TargetHolder(outcome.user_id, outcome.device_id)

    async def move_target(self, platform: Platform, target: str, *, old: TargetHolder, new: TargetHolder) -> bool:
        try:
            (outcome,) = await self._run(
                "UPDATE {ks}.device_targets SET user_id = ?, device_id = ? WHERE platform = ? AND target = ? "
                "IF user_id = ? AND device_id = ?",
                (new.user_id, new.device_id, int(platform), target, old.user_id, old.device_id),
            )
        except Unavailable as exc:
            if not outcome_open(exc):
                raise
            # new is a device being registered now: if it holds the target, the move was ours
            return await self._settled_holder(platform, target) == new
        return bool(outcome.applied)

    async def release_target(self, platform: Platform, target: str, holder: TargetHolder) -> None:
        try:
            await self._run(
                "DELETE FROM {ks}.device_targets WHERE platform = ? AND target = ? IF user_id = ? AND device_id = ?",
                (int(platform), target, holder.user_id, holder.device_id),
            )
        except Unavailable as exc:
            if not outcome_open(exc):
                raise
            if await self._settled_holder(platform, target) == holder:
                raise Unavailable("the device could not be removed in time; try again",
                                  reason="DEVICE_RELEASE_TIMEOUT") from None

    # --- devices ------------------------------------------------------------------------------

    async def put(self, device: Device) -> None:
        await self._run(
            f"INSERT INTO {{ks}}.devices_by_user ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)",
            (device.user_id, device.device_id, int(device.platform), device.target, device.label, device.create_time),
        )

    async def get(self, user_id: int, device_id: int) -> Device | None:
        rows = await self._run(
            f"SELECT {_COLUMNS} FROM {{ks}}.devices_by_user WHERE user_id = ? AND device_id = ?", (user_id, device_id)
        )
        return _device(rows[0]) if rows else None

    async def remove(self, user_id: int, device_id: int) -> None:
        await self._run("DELETE FROM {ks}.devices_by_user WHERE user_id = ? AND device_id = ?", (user_id, device_id))

    async def list(self, user_id: int) -> list[Device]:
        # no LIMIT: the partition holds at most MAX_DEVICES_PER_USER rows (a few more if two
        # registrations raced past the check), and a user must see all of them to remove one
        rows = await self._run(f"SELECT {_COLUMNS} FROM {{ks}}.devices_by_user WHERE user_id = ?", (user_id,))
        return [_device(row) for row in rows]
