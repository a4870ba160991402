from cassandra.query import UNSET_VALUE

from mesh.cql_rows import chunks, unique, unset_if_empty


def test_absent_optional_values_are_left_unset_not_written_as_null():
    assert unset_if_empty(None) is UNSET_VALUE
    assert unset_if_empty([]) is UNSET_VALUE  # CQL stores an empty collection as null too
    assert unset_if_empty(0) == 0 and unset_if_empty("") == ""  # real values, even falsy ones
    assert unset_if_empty([7]) == [7]


def test_in_lists_are_cut_to_the_scylla_limit_and_keep_first_seen_order():
    assert [len(c) for c in chunks(list(range(250)))] == [100, 100, 50]
    assert unique([3, 1, 3, 2, 1]) == [3, 1, 2]
