"""The benchmark dataset's generators (bench/): same seed, same data; the shapes the benchmarks rely on."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from datetime import datetime, timezone

import pytest

from bench.bulk import FollowTemplate, TweetStatements, user_statements
from bench.corpus import Corpus, CorpusSpec, TextGenerator, TextSpec
from bench.dataset import (
    Celebrity,
    Dataset,
    Reed98Part,
    SearchPart,
    SyntheticPart,
    Term,
    follows_of,
    node_count,
    parse_edges,
)
from bench.synthetic import GraphSpec, SyntheticGraph, follower_counts, generate
from mesh import ids
from svc_graph.domain import User
from svc_search.domain import hashtags_in, mentions_in
from svc_tweet.domain import Tweet

SMALL = GraphSpec(users=3_000, fanout_sizes=(10, 100, 500), celebrity_followers=(700, 900), celebrity_threshold=500,
                  max_followers=300)


@pytest.fixture(scope="module")
def graph() -> SyntheticGraph:
    return generate(SMALL)


def edges_of(graph: SyntheticGraph) -> list[tuple[int, int, int]]:
    return list(zip(graph.follower, graph.followee, graph.follow_ms))


# --- socfb-Reed98 ---------------------------------------------------------------------------


def test_reed98_parser_makes_two_follows_of_each_undirected_edge():
    edges = parse_edges(["% comment", "1 0", "2 0", "", "2 1"])
    assert edges == [(0, 1), (0, 2), (1, 2)]
    assert node_count(edges) == 3
    follows = follows_of(edges)
    assert len(follows) == 2 * len(edges)
    assert set(follows) == {(0, 1), (1, 0), (0, 2), (2, 0), (1, 2), (2, 1)}


@pytest.mark.parametrize("lines", [["1 1"], ["0 1", "1 0"], ["7"]])
def test_reed98_parser_refuses_self_loops_repeats_and_garbage(lines):
    with pytest.raises(ValueError):
        parse_edges(lines)


def test_reed98_nodes_must_be_numbered_without_gaps():
    with pytest.raises(ValueError):
        node_count([(0, 2)])


# --- the synthetic graph --------------------------------------------------------------------


def test_synthetic_graph_is_the_same_for_the_same_seed(graph):
    assert edges_of(generate(SMALL)) == edges_of(graph)


def test_synthetic_graph_changes_with_the_seed(graph):
    other = generate(GraphSpec(**{**SMALL.as_json(), "seed": SMALL.seed + 1}))
    assert edges_of(other) != edges_of(graph)


def test_special_users_have_exactly_their_follower_counts(graph):
    counts = follower_counts(graph)
    assert {size: counts[user] for size, user in graph.fanout_authors.items()} == {10: 10, 100: 100, 500: 500}
    assert [(counts[user], size) for user, size in graph.celebrities] == [(700, 700), (900, 900)]
    # nobody else is a celebrity, and the fan-out authors are not
    celebrities = {user for user, count in enumerate(counts) if count > SMALL.celebrity_threshold}
    assert celebrities == {user for user, _ in graph.celebrities}


def test_no_self_follows_and_no_follow_twice(graph):
    pairs = list(zip(graph.follower, graph.followee))
    assert all(follower != followee for follower, followee in pairs)
    assert len(set(pairs)) == len(pairs)


def test_follows_are_heavy_tailed_and_after_both_users_exist(graph):
    counts = sorted(follower_counts(graph)[len(graph.special_users):])
    median, top = counts[len(counts) // 2], counts[-1]
    assert median <= 5 and top >= 20 * median  # most have a handful, a few have many
    for follower, followee, ms in edges_of(graph)[::97]:
        assert ms >= max(SMALL.created_ms(follower), SMALL.created_ms(followee))


def test_default_graph_spec_has_the_benchmark_shape():
    spec = GraphSpec()
    assert spec.fanout_sizes == (10, 1_000, 10_000)
    assert all(20_000 <= size <= 60_000 for size in spec.celebrity_followers)
    assert spec.max_followers <= spec.celebrity_threshold  # only the listed celebrities are celebrities


def test_synthetic_ids_are_snowflakes_of_the_creation_time():
    for index in (0, 1, 99_999):
        user_id = SMALL.user_id(index)
        assert ids.timestamp_of(user_id) == datetime.fromtimestamp(SMALL.created_ms(index) / 1000, tz=timezone.utc)
        assert user_id == SMALL.first_user_id + index * SMALL.user_id_stride


def test_a_graph_spec_that_cannot_hold_its_special_users_is_refused():
    with pytest.raises(ValueError):
        GraphSpec(users=100, fanout_sizes=(10,), celebrity_followers=(200,), celebrity_threshold=50, max_followers=20)
    with pytest.raises(ValueError):
        GraphSpec(users=1000, fanout_sizes=(100,), celebrity_followers=(50,), celebrity_threshold=60, max_followers=20)


# --- texts and the search corpus ------------------------------------------------------------


def test_texts_are_the_same_for_the_same_seed():
    first, again = TextGenerator(), TextGenerator()
    texts = [first.text(random.Random(f"t{i}"), ["ann_1", "bob_2"]) for i in range(200)]
    assert texts == [again.text(random.Random(f"t{i}"), ["ann_1", "bob_2"]) for i in range(200)]
    other = TextGenerator(TextSpec(seed=1)).text(random.Random("t0"))
    assert other != texts[0]


def test_texts_fit_a_tweet_and_carry_hashtags_and_mentions():
    generator = TextGenerator()
    rng = random.Random(3)
    made = [generator.text(rng, ["ann_1"]) for _ in range(2_000)]
    assert all(1 <= len(text) <= 280 and text.strip() for text, _ in made)
    assert 0.2 < sum(bool(hashtags_in(text)) for text, _ in made) / len(made) < 0.4
    assert all(mentions == [m for m in mentions_in(text)] for text, mentions in made)
    assert 0.05 < sum(bool(mentions) for _, mentions in made) / len(made) < 0.25


def test_word_frequencies_are_zipfian():
    generator = TextGenerator()
    rng = random.Random(5)
    words = Counter(word.lower() for _ in range(3_000) for word in generator.text(rng)[0].split() if word[0] not in "#@")
    top, tenth, hundredth = (words[generator.words[rank]] for rank in (0, 9, 99))
    assert top > 5 * tenth > 5 * hundredth > 0


def corpus(tweets: int = 3_000) -> Corpus:
    return Corpus(CorpusSpec(tweets=tweets, chunk=1_000), TextGenerator(), range(10, 500), lambda user: f"syn{user:06d}")


def test_corpus_is_the_same_for_the_same_seed_and_chunks_stand_alone():
    whole = [tweet for chunk in corpus() for tweet in chunk]
    assert whole == [tweet for chunk in corpus() for tweet in chunk]
    assert corpus().chunk(2) == whole[2_000:]


def test_corpus_ids_are_unique_snowflakes_of_their_time_and_a_bigger_corpus_extends_a_smaller():
    spec = CorpusSpec(tweets=3_000, chunk=1_000)
    tweets = [tweet for chunk in corpus() for tweet in chunk]
    assert [t.tweet_id for t in tweets] == sorted({t.tweet_id for t in tweets}, reverse=True)  # newest first
    assert all(ids.timestamp_of(t.tweet_id) == datetime.fromtimestamp(t.create_ms / 1000, tz=timezone.utc) for t in tweets)
    assert spec.end_ms - spec.tweets * spec.step_ms <= tweets[-1].create_ms and tweets[0].create_ms < spec.end_ms
    assert {t.author for t in tweets} <= set(range(10, 500))
    for tweet in tweets:
        assert [f"syn{user:06d}" for user in tweet.mentions] == list(mentions_in(tweet.text))
    assert corpus(5_000).chunk(1) == corpus().chunk(1)


def test_a_corpus_that_reaches_back_before_the_users_is_refused():
    with pytest.raises(ValueError):
        CorpusSpec(tweets=10_000_000)


# --- the services' statements, as the loader records them -----------------------------------


def test_follow_rows_are_svc_graphs_four_rows_by_partition():
    template = FollowTemplate("ks")
    at = datetime(2026, 1, 2, tzinfo=timezone.utc)
    follower_side = FollowTemplate.bind(template.follower_side, 11, 22, at)
    followee_side = FollowTemplate.bind(template.followee_side, 11, 22, at)
    assert {values[0] for _, values in follower_side} == {11}
    assert {values[0] for _, values in followee_side} == {22}
    tables = sorted(query.split()[2] for query, _ in follower_side + followee_side)
    assert tables == ["ks.followers_by_time", "ks.followers_by_user", "ks.following_by_time", "ks.following_by_user"]


def test_user_rows_are_a_sign_up_without_the_conditional_claim():
    created = datetime(2025, 1, 1, tzinfo=timezone.utc)
    user = User(user_id=5, handle="Syn000005", display_name="S", bio="", create_time=created)
    statements = asyncio.run(user_statements("ks", user, "hash"))
    assert [query.split()[2] for query, _ in statements] == ["ks.users", "ks.users_by_handle"]
    assert all("IF NOT EXISTS" not in query for query, _ in statements)
    assert statements[1][1][0] == "syn000005"  # the claim is by lowercased handle


def test_tweet_rows_are_svc_tweets_create_without_its_events():
    tweet = Tweet(tweet_id=9, author_id=5, text="hi", create_time=datetime(2026, 6, 1, tzinfo=timezone.utc))
    statements = asyncio.run(TweetStatements("ks").of(tweet))
    assert [query.split()[2] for query, _ in statements] == ["ks.tweets", "ks.tweets_by_author", "ks.tweet_months_by_author"]
    assert all(values[-1] == 1780272000000000 for _, values in statements)  # USING TIMESTAMP create_time


# --- the manifest ---------------------------------------------------------------------------


def test_manifest_round_trips_through_json():
    dataset = Dataset(
        version=1, seed=2,
        reed98=Reed98Part([7, 8], ["reed98_000", "reed98_001"], 1, 2, 10, "x.edges"),
        synthetic=SyntheticPart(3, 100, 10, "syn%06d", 4, {"10": 100}, [Celebrity(110, 20_000)], 20, {"users": 3}),
        search=SearchPart(5, 1, 9, {"rare": [Term("w", 3)]}, {"common": [Term("t", 4)]}, {"tweets": 5}),
        timings={"reed98": {"total": 1.5}},
    )
    assert Dataset.from_json(dataset.to_json()) == dataset
    assert list(dataset.synthetic.user_ids) == [100, 110, 120]
    assert dataset.synthetic.handle_of(120) == "syn000002"
