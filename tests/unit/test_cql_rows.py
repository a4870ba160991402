from cassandra.query import UNSET_VALUE, named_tuple_factory

from mesh.cql import cached_named_tuple_factory
from mesh.cql_rows import chunks, unique, unset_if_empty


def test_absent_optional_values_are_left_unset_not_written_as_null():
    assert unset_if_empty(None) is UNSET_VALUE
    assert unset_if_empty([]) is UNSET_VALUE  # CQL stores an empty collection as null too
    assert unset_if_empty(0) == 0 and unset_if_empty("") == ""  # real values, even falsy ones
    assert unset_if_empty([7]) == [7]


def test_in_lists_are_cut_to_the_scylla_limit_and_keep_first_seen_order():
    assert [len(c) for c in chunks(list(range(250)))] == [100, 100, 50]
    assert unique([3, 1, 3, 2, 1]) == [3, 1, 2]


def test_the_cached_row_factory_answers_like_the_drivers_and_makes_one_class_per_set_of_columns():
    columns = ["[applied]", "tweet_id", "count"]
    ours = cached_named_tuple_factory(columns, [(True, 5, 2), (False, 6, 3)])
    theirs = named_tuple_factory(columns, [(True, 5, 2), (False, 6, 3)])
    assert ours == theirs and ours[0]._fields == theirs[0]._fields == ("applied", "tweet_id", "count")
    assert (ours[1].applied, ours[1].tweet_id, ours[1][2]) == (False, 6, 3)
    again = cached_named_tuple_factory(list(columns), [(True, 7, 1)])
    assert type(again[0]) is type(ours[0])
    assert cached_named_tuple_factory(columns, []) == []
