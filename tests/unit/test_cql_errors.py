import asyncio

import pytest
from cassandra import OperationTimedOut
from cassandra.cluster import NoHostAvailable
from cassandra import InvalidRequest

from mesh.cql import _settle
from mesh.errors import Unavailable


@pytest.mark.parametrize("driver_error", [OperationTimedOut("no answer"), NoHostAvailable("all hosts down", {})])
async def test_a_store_that_does_not_answer_is_unavailable_to_the_caller(driver_error):
    done = asyncio.get_running_loop().create_future()
    _settle(done, None, driver_error)
    with pytest.raises(Unavailable) as raised:
        await done
    assert raised.value.reason == "STORE_UNAVAILABLE" and raised.value.__cause__ is driver_error


async def test_a_bad_query_stays_a_bug_not_a_retryable_error():
    done = asyncio.get_running_loop().create_future()
    _settle(done, None, InvalidRequest("unconfigured table no_such_table"))
    with pytest.raises(InvalidRequest):
        await done
