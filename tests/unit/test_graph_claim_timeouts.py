"""svc_graph's LWT claims when the store times out: a SERIAL read settles who won, instead of
failing a sign-up that actually succeeded (mesh.cql reports the driver's timeout as Unavailable)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from mesh.errors import Unavailable
from svc_graph.adapters.cql_users import CqlUserStore

NOW = datetime(2026, 11, 24, tzinfo=timezone.utc)


class TimingOutUsers(CqlUserStore):
    """The claim times out; the SERIAL read then finds `holder` holding the handle."""

    def __init__(self, holder: int | None):
        self.holder = holder
        self.serial_reads = 0
        self._ks = "ks"

    async def _run(self, query, parameters, *, consistency=None):
        raise Unavailable("the CQL store did not answer: WriteTimeout", reason="STORE_UNAVAILABLE")

    async def _handle_holder(self, key, *, consistency=None):
        self.serial_reads += 1
        return self.holder


async def test_a_timed_out_claim_that_went_through_is_ours():
    store = TimingOutUsers(holder=42)
    assert await store.claim_handle("Ann", 42, NOW) is True
    assert store.serial_reads == 1


async def test_a_timed_out_claim_someone_else_won_is_not_ours():
    assert await TimingOutUsers(holder=7).claim_handle("Ann", 42, NOW) is False


async def test_a_timed_out_claim_nobody_holds_is_reported_unavailable():
    with pytest.raises(Unavailable, match="try again"):
        await TimingOutUsers(holder=None).claim_handle("Ann", 42, NOW)
