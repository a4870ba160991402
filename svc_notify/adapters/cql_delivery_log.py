"""The delivery log in CQL (migrations/cql/0030_notify.cql): the DeliveryLog port.

One row per delivery a provider accepted (delivery_id "<notification_id>-<device_id>"), so a work
item redelivered after its send succeeded (a crash between send and ack) is not sent again.
Rows are written USING TTL 7 days: longer than the delivery queue keeps a work item (the
NOTIFY_DELIVERY stream's max age is 1 day, mesh/events.py), so a row outlives every redelivery of
its item, and the table does not grow without bound.

Consistency: LOCAL_QUORUM both ways (the session's default, as every service uses), so a write and
a later read overlap in at least one replica: a redelivery handled by another replica of svc_notify,
through another coordinator, still sees the record. ONE would be cheaper, but a duplicate push is
what users notice, and this is one small read per send.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone

from cassandra.cluster import Session

from mesh import cql
from mesh.cql_rows import rows_of

# 7 days: above the delivery queue's 1-day max age (mesh/events.py, NOTIFY_DELIVERY)
DELIVERY_LOG_TTL_S = 7 * 24 * 3600


class CqlDeliveryLog:
    def __init__(self, session: Session, keyspace: str, clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)):
        self._session = session
        self._ks = keyspace
        self._clock = clock

    async def delivered(self, delivery_id: str) -> bool:
        statement = await cql.prepare(
            self._session, f"SELECT delivered_at FROM {self._ks}.notification_deliveries WHERE delivery_id = ?"
        )
        return bool(rows_of(await cql.execute(self._session, statement, (delivery_id,))))

    async def record(self, delivery_id: str) -> None:
        statement = await cql.prepare(
            self._session,
            f"INSERT INTO {self._ks}.notification_deliveries (delivery_id, delivered_at) VALUES (?, ?) USING TTL ?",
        )
        await cql.execute(self._session, statement, (delivery_id, self._clock(), DELIVERY_LOG_TTL_S))
