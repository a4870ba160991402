"""Search queries: the text a user types -> the parsed query -> the Elasticsearch request."""

from __future__ import annotations

from svc_search.adapters.elasticsearch_index import tweet_search_body, user_search_body
from svc_search.domain import TweetOrder, TweetPosition, TweetQuery, UserPosition, hashtags_in, mentions_in, parse_query


def test_operators_and_words_are_told_apart_and_lowercased():
    assert parse_query("#Tag from:Bob Hello @Ann world") == TweetQuery(
        words=("hello", "world"), hashtags=("tag",), mentions=("ann",), authors=("bob",)
    )


def test_trailing_punctuation_is_forgiven_and_duplicates_count_once():
    assert parse_query("#python, #Python from:@bob. hello HELLO") == TweetQuery(
        words=("hello",), hashtags=("python",), authors=("bob",)
    )


def test_what_only_looks_like_an_operator_is_searched_as_text():
    assert parse_query("# from: @ c#").words == ("#", "from:", "@", "c#")


def test_the_same_query_spelt_differently_has_the_same_key():
    assert parse_query("Hello #x from:bob").key() == parse_query("from:BOB #X hello").key()
    assert parse_query("hello").key() != parse_query("#hello").key()


def test_hashtag_and_from_and_words_become_filters_and_scored_words():
    body = tweet_search_body(parse_query("#tag from:bob hello there"), None, 21)
    assert body == {
        "query": {"bool": {
            "filter": [
                {"exists": {"field": "author_id"}},
                {"term": {"hashtags": "tag"}},
                {"terms": {"author_handle": ["bob"]}},
            ],
            "should": [
                *({"constant_score": {"filter": {"match": {"text": {"query": word, "operator": "and"}}}, "boost": 1.0}}
                  for word in ("hello", "there")),
            ],
            "minimum_should_match": 1,
        }},
        "sort": [{"_score": "desc"}, {"tweet_id_num": "desc"}],
        "size": 21,
        "_source": ["tweet_id", "author_id", "text", "created_at"],
        "track_total_hits": False,
    }


def test_filters_alone_sort_newest_first_and_a_cursor_continues_after_its_hit():
    body = tweet_search_body(parse_query("@ann #a #b"), TweetPosition(0, 12345), 5)
    assert body["query"] == {"bool": {"filter": [
        {"exists": {"field": "author_id"}},
        {"term": {"hashtags": "a"}},
        {"term": {"hashtags": "b"}},
        {"term": {"mentions": "ann"}},
    ]}}
    # every score is 0: sorted on the id alone, which Elasticsearch can do without visiting every match
    assert body["sort"] == [{"tweet_id_num": "desc"}] and body["search_after"] == [12345]


def test_one_word_sorts_on_the_id_alone_as_every_match_scores_one():
    first = tweet_search_body(parse_query("#tag hello"), None, 5)
    assert first["sort"] == [{"tweet_id_num": "desc"}] and "search_after" not in first
    assert tweet_search_body(parse_query("hello"), TweetPosition(1, 12345), 5)["search_after"] == [12345]
    # positions of another score, which only forged cursors carry, keep their meaning: above every
    # match, all of them follow; below, none does
    assert "search_after" not in tweet_search_body(parse_query("hello"), TweetPosition(2, 12345), 5)
    assert tweet_search_body(parse_query("hello"), TweetPosition(0, 12345), 5)["search_after"] == [0]


def test_newest_first_sorts_by_tweet_id_alone_and_a_cursor_continues_after_that_id():
    best = tweet_search_body(parse_query("hello world"), TweetPosition(2, 12345), 5, TweetOrder.BEST_MATCH)
    newest = tweet_search_body(parse_query("hello world"), TweetPosition(0, 12345), 5, TweetOrder.NEWEST)
    assert newest["query"] == best["query"]  # the same tweets match, only the order differs
    assert newest["sort"] == [{"tweet_id_num": "desc"}]
    assert newest["search_after"] == [12345]
    assert best["sort"] == [{"_score": "desc"}, {"tweet_id_num": "desc"}] and best["search_after"] == [2.0, 12345]


def test_users_by_prefix_rank_shorter_handles_first():
    body = user_search_body("bob", None, 3)
    clauses = body["query"]["bool"]["should"]
    assert [c["constant_score"]["filter"]["regexp"]["handle"]["value"] for c in clauses[:3]] == ["bob", "bob.{1}", "bob.{2}"]
    assert len(clauses) == 13  # lengths 3..15
    boosts = [c["constant_score"]["boost"] for c in clauses]
    assert boosts == sorted(boosts, reverse=True) and min(boosts) > 0
    assert body["sort"] == [{"_score": "desc"}, {"handle": "asc"}]
    after = user_search_body("bob", UserPosition("bobby"), 3)["search_after"]
    assert after == [boosts[2], "bobby"]


def test_a_one_letter_prefix_asks_for_handles_of_three_letters_at_least():
    clauses = user_search_body("a", None, 3)["query"]["bool"]["should"]
    assert clauses[0]["constant_score"]["filter"]["regexp"]["handle"]["value"] == "a.{2}"


def test_hashtags_and_mentions_are_extracted_from_tweet_text():
    text = "Loving #Python and #python3, #日本 with @Ann_1 and @bob! mail bob@example.com a#b ##x @ab"
    assert hashtags_in(text) == ("python", "python3", "日本")
    assert mentions_in(text) == ("ann_1", "bob")
