"""A stream read by position, for the rebuild: its last sequence, and a replay of a sequence range.

A replay reads through its own short-lived consumer (no acks, in memory, deleted after use and
dropped by the server anyway if the reader vanishes), so it never disturbs the durable consumers
of the running services.
"""

from __future__ import annotations

import logging
import uuid

from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError

from svc_search.domain import EventOutcome, IncomingEvent
from svc_search.ports import BatchHandler

log = logging.getLogger("svc_search.replay")


class ReplayFailed(RuntimeError):
    pass


class JetStreamEventLog:
    def __init__(self, js: JetStreamContext, stream: str, *, batch: int = 256, fetch_wait_s: float = 2.0,
                 subject_prefix: str = ""):
        self._js = js
        self._stream = stream
        self._batch = batch
        self._fetch_wait_s = fetch_wait_s
        # stripped from each subject before it is handled (tests replay a scratch stream `it.x.tweet.>`)
        self._subject_prefix = subject_prefix

    async def last_sequence(self) -> int:
        return (await self._js.stream_info(self._stream)).state.last_seq

    async def replay(self, after: int, through: int, handle: BatchHandler) -> int:
        if through <= after:
            return 0
        name = f"search-replay-{uuid.uuid4().hex[:12]}"
        await self._js.add_consumer(self._stream, ConsumerConfig(
            name=name,
            deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
            opt_start_seq=after + 1,
            ack_policy=AckPolicy.NONE,
            inactive_threshold=60.0,
            mem_storage=True,
        ))
        handled = 0
        try:
            subscription = await self._js.pull_subscribe_bind(name=name, stream=self._stream)
            position = after
            while position < through:
                try:
                    messages = await subscription.fetch(self._batch, timeout=self._fetch_wait_s)
                except TimeoutError:
                    # nothing more to read: the rest of the range expired from the stream (max_age)
                    log.warning("stream %s ended at %d before %d", self._stream, position, through)
                    break
                wanted = [m for m in messages if m.metadata.sequence.stream <= through]
                position = messages[-1].metadata.sequence.stream
                if not wanted:
                    continue
                events = [
                    IncomingEvent(m.subject.removeprefix(self._subject_prefix), m.data,
                                  (m.headers or {}).get("Nats-Msg-Id", ""))
                    for m in wanted
                ]
                outcomes = await handle(events)
                # a rejected event is one the live consumer dropped too (the handler logged it);
                # one to retry means the index or the graph failed: the rebuild must not go on
                unapplied = sum(outcome is EventOutcome.RETRY for outcome in outcomes)
                if unapplied:
                    raise ReplayFailed(f"{unapplied} of {len(events)} replayed events of {self._stream} were not applied")
                handled += len(events)
            await subscription.unsubscribe()
        finally:
            try:
                await self._js.delete_consumer(self._stream, name)
            except NotFoundError:
                pass  # already dropped by the server (inactive_threshold)
        log.info("replayed", extra={"stream": self._stream, "after": after, "through": through, "events": handled})
        return handled
