"""Request ids (AIP-155) against the real Cassandra: a retry gets the first answer, never another caller's."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid

import pytest
from google.protobuf.empty_pb2 import Empty
from google.protobuf.wrappers_pb2 import StringValue

from mesh import cql
from mesh.idempotency import RequestLog, once
from mesh.schema import migrate_cql
from tests.conftest import require_listening

SCOPE = "tweetmesh.test.v1.NoteService/CreateNote"


@pytest.fixture
async def request_log(stack):
    require_listening(stack.host, stack.cql_port, "Cassandra")
    scratch = dataclasses.replace(stack, cql_keyspace=f"it_{uuid.uuid4().hex[:12]}")
    await migrate_cql(scratch)
    session = await cql.connect(scratch)
    yield RequestLog(session, scratch.cql_keyspace)
    try:
        await cql.execute(session, f"DROP KEYSPACE IF EXISTS {scratch.cql_keyspace}", cap_s=30)
    finally:
        await cql.close(session)


async def test_an_answer_is_recalled_after_it_was_remembered(request_log):
    assert await request_log.recall(SCOPE, "req-1", "ann") is None
    assert await request_log.remember(SCOPE, "req-1", "ann", b"first") == b"first"
    assert await request_log.recall(SCOPE, "req-1", "ann") == b"first"
    assert await request_log.recall("tweetmesh.test.v1.NoteService/DeleteNote", "req-1", "ann") is None


async def test_the_second_answer_for_a_request_id_gets_the_first_one_back(request_log):
    await request_log.remember(SCOPE, "req-2", "ann", b"first")
    assert await request_log.remember(SCOPE, "req-2", "ann", b"second") == b"first"
    assert await request_log.recall(SCOPE, "req-2", "ann") == b"first"


async def test_two_attempts_racing_both_get_the_answer_stored_first(request_log):
    answers = await asyncio.gather(
        *(request_log.remember(SCOPE, "req-race", "ann", f"attempt {n}".encode()) for n in range(4))
    )
    stored = await request_log.recall(SCOPE, "req-race", "ann")
    assert stored is not None and stored.startswith(b"attempt ")
    assert set(answers) == {stored}


async def test_another_callers_request_id_is_another_request(request_log):
    await request_log.remember(SCOPE, "req-shared", "ann", b"ann's answer")
    assert await request_log.recall(SCOPE, "req-shared", "bob") is None  # nothing of ann's leaks
    assert await request_log.remember(SCOPE, "req-shared", "bob", b"bob's answer") == b"bob's answer"
    assert await request_log.recall(SCOPE, "req-shared", "ann") == b"ann's answer"


async def test_once_computes_on_the_first_call_and_replays_afterwards(request_log):
    calls = []

    async def create_note() -> StringValue:
        calls.append(1)
        return StringValue(value=f"note-{len(calls)}")

    first = await once(request_log, SCOPE, "req-once", "ann", StringValue, create_note)
    retry = await once(request_log, SCOPE, "req-once", "ann", StringValue, create_note)
    assert first == retry == StringValue(value="note-1")
    assert len(calls) == 1
    other_caller = await once(request_log, SCOPE, "req-once", "bob", StringValue, create_note)
    assert other_caller == StringValue(value="note-2")


async def test_once_without_request_id_computes_every_time(request_log):
    calls = []

    async def create_note() -> StringValue:
        calls.append(1)
        return StringValue(value=f"note-{len(calls)}")

    await once(request_log, SCOPE, "", "ann", StringValue, create_note)
    await once(request_log, SCOPE, "", "ann", StringValue, create_note)
    assert len(calls) == 2


async def test_concurrent_once_calls_all_answer_with_the_first_stored_response(request_log):
    counter = iter(range(100))

    async def create_note() -> StringValue:
        value = next(counter)
        await asyncio.sleep(0.01 * value)
        return StringValue(value=f"note-{value}")

    answers = await asyncio.gather(
        *(once(request_log, SCOPE, "req-concurrent", "ann", StringValue, create_note) for _ in range(4))
    )
    assert len({answer.value for answer in answers}) == 1


async def test_an_empty_answer_is_remembered_too(request_log):
    # a mutation answering google.protobuf.Empty stores zero bytes; that is an answer, not "none yet"
    calls = []

    async def delete_note() -> Empty:
        calls.append(1)
        return Empty()

    assert await once(request_log, SCOPE, "req-empty", "ann", Empty, delete_note) == Empty()
    assert await once(request_log, SCOPE, "req-empty", "ann", Empty, delete_note) == Empty()
    assert len(calls) == 1


async def test_a_failed_computation_is_not_remembered(request_log):
    attempts = []

    async def flaky() -> StringValue:
        attempts.append(1)
        if len(attempts) == 1:
            raise ConnectionError("store timed out")
        return StringValue(value="done")

    with pytest.raises(ConnectionError):
        await once(request_log, SCOPE, "req-flaky", "ann", StringValue, flaky)
    assert await once(request_log, SCOPE, "req-flaky", "ann", StringValue, flaky) == StringValue(value="done")
