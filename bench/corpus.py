"""Seeded tweet texts and the search corpus: which user posts what, when, under which id. No I/O.

Texts: words drawn from a Zipfian vocabulary of a few thousand made-up words (pronounceable, all
lowercase letters, so the index's standard analyzer keeps each as one token), tweet lengths from a
log-normal (median ~9 words, never over 280 characters), hashtags from a Zipfian list of their own
in about a third of the tweets, a mention of another user in some. Word frequencies span from
"in most tweets" to "in a few dozen of a million", which is what the query-term classes need.

The corpus: tweet k is posted k+1 steps before `end`, plus a jitter below one step, so times are
spread over the months before `end` and all distinct, and its id is the Snowflake id of that
millisecond (bench.synthetic.snowflake): the same ids on every run, and a corpus of N tweets is
the first N tweets of any bigger one (a reload with another size reuses what is there). Authors are synthetic users,
some much more prolific than others (Zipf over a seeded shuffle). Generated in chunks, each from
its own seeded generator, so a chunk can be made without the ones before it.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import accumulate

from bench.dataset import SEED
from bench.synthetic import snowflake
from svc_tweet.domain import mentioned_handles

MAX_TWEET_CHARS = 280  # the CreateTweet rule

_ONSETS = ("b", "c", "d", "f", "g", "h", "j", "k", "l", "m", "n", "p", "r", "s", "t", "v", "w", "z",
           "br", "ch", "dr", "fl", "gr", "kr", "pl", "sh", "st", "tr", "th")
_VOWELS = ("a", "e", "i", "o", "u", "ai", "ea", "io", "ou")
_CODAS = ("", "", "", "n", "r", "s", "l", "m", "t", "x")


def made_up_words(seed: int, count: int) -> list[str]:
    """`count` distinct pronounceable words of 2 to 4 syllables, the same for the same seed."""
    rng = random.Random(f"{seed}:words")
    words: dict[str, None] = {}
    while len(words) < count:
        syllables = rng.choice((2, 2, 3, 3, 3, 4))
        word = "".join(rng.choice(_ONSETS) + rng.choice(_VOWELS) + rng.choice(_CODAS) for _ in range(syllables))
        words[word] = None
    return list(words)


def zipf_cumulative(count: int, exponent: float) -> list[float]:
    """Cumulative weights of ranks 1..count under Zipf's law (for random.choices)."""
    return list(accumulate(rank ** -exponent for rank in range(1, count + 1)))


@dataclass(frozen=True)
class TextSpec:
    seed: int = SEED
    vocabulary: int = 8_000
    word_exponent: float = 1.1
    hashtags: int = 600
    hashtag_exponent: float = 1.0
    hashtag_share: float = 0.3  # of the tweets that carry hashtags (1 to 3)
    mention_share: float = 0.15  # of the tweets that mention someone, when there is anyone to mention
    length_mu: float = 2.2  # log-normal of the number of words
    length_sigma: float = 0.6


class TextGenerator:
    def __init__(self, spec: TextSpec = TextSpec()):
        self.spec = spec
        words = made_up_words(spec.seed, spec.vocabulary + spec.hashtags)
        self.words = words[:spec.vocabulary]  # by rank: words[0] is the most frequent
        self.tags = words[spec.vocabulary:]  # hashtags, by rank too, no word of the text vocabulary
        self._word_weights = zipf_cumulative(len(self.words), spec.word_exponent)
        self._tag_weights = zipf_cumulative(len(self.tags), spec.hashtag_exponent)

    def text(self, rng: random.Random, mentionable: Sequence[str] = ()) -> tuple[str, list[str]]:
        """A tweet text and the handles it mentions (in order)."""
        spec = self.spec
        length = max(1, min(45, round(rng.lognormvariate(spec.length_mu, spec.length_sigma))))
        words = rng.choices(self.words, cum_weights=self._word_weights, k=length)
        words[0] = words[0].capitalize()
        mentions: list[str] = []
        if mentionable and rng.random() < spec.mention_share:
            mentions = [rng.choice(mentionable)]
            words.insert(rng.randrange(len(words) + 1) if rng.random() < 0.5 else 0, f"@{mentions[0]}")
        if rng.random() < spec.hashtag_share:
            tags = dict.fromkeys(rng.choices(self.tags, cum_weights=self._tag_weights, k=rng.choice((1, 1, 1, 2, 3))))
            words += [f"#{tag}" for tag in tags]
        text = " ".join(words)
        while len(text) > MAX_TWEET_CHARS:  # rare: drop words from the middle until it fits
            words.pop(len(words) // 2)
            text = " ".join(words)
        mentions = [handle for handle in mentions if f"@{handle}" in text]
        return text, mentions


@dataclass(frozen=True)
class CorpusSpec:
    tweets: int = 1_000_000
    seed: int = SEED
    end: str = "2026-11-01T00:00:00+00:00"  # tweet 0 is the newest; 1M tweets go back ~6 months
    step_ms: int = 15_000
    not_before: str = "2026-01-01T00:00:00+00:00"  # after every synthetic user exists (bench/synthetic.py)
    author_exponent: float = 0.6  # Zipf over the authors: a few post thousands, most a few
    chunk: int = 5_000

    def __post_init__(self) -> None:
        if self.end_ms - self.tweets * self.step_ms < _ms(self.not_before):
            raise ValueError(f"{self.tweets:,} tweets one per {self.step_ms} ms do not fit after {self.not_before}")

    @property
    def end_ms(self) -> int:
        return _ms(self.end)

    def tweet_ms(self, k: int, rng: random.Random) -> int:
        """Tweet k's time: in the k-th step back from the end, so the first N tweets of a bigger
        corpus are the same tweets (same ids) as a corpus of N."""
        return self.end_ms - (k + 1) * self.step_ms + int(rng.random() * self.step_ms)


def _ms(iso: str) -> int:
    return int(datetime.fromisoformat(iso).timestamp() * 1000)


@dataclass(frozen=True)
class PlannedTweet:
    tweet_id: int
    author: int  # a user number of the synthetic graph
    text: str
    create_ms: int
    mentions: tuple[int, ...]  # user numbers, in the order the text names them


class Corpus:
    """The tweets of the search corpus, by chunks. `authors`: the user numbers allowed to post;
    `handle_of`: a user number's handle (mentions name other authors)."""

    def __init__(self, spec: CorpusSpec, text: TextGenerator, authors: Sequence[int], handle_of):
        self.spec = spec
        self._text = text
        self._handle_of = handle_of
        shuffled = list(authors)
        random.Random(f"{spec.seed}:authors").shuffle(shuffled)
        self._authors = shuffled  # by rank: the first is the most prolific
        self._author_weights = zipf_cumulative(len(shuffled), spec.author_exponent)
        self._user_of_handle: dict[str, int] = {}

    @property
    def chunks(self) -> int:
        return -(-self.spec.tweets // self.spec.chunk)

    def chunk(self, number: int) -> list[PlannedTweet]:
        spec = self.spec
        rng = random.Random(f"{spec.seed}:corpus:{number}")
        first, last = number * spec.chunk, min(spec.tweets, (number + 1) * spec.chunk)
        authors = rng.choices(self._authors, cum_weights=self._author_weights, k=last - first)
        mentionable = [self._handle(user) for user in rng.sample(self._authors, min(200, len(self._authors)))]
        tweets = []
        for k, author in zip(range(first, last), authors):
            ms = spec.tweet_ms(k, rng)
            text, _ = self._text.text(rng, mentionable)
            # as svc_tweet resolves them: every @handle of the text that names a user, once, in order
            mentions = tuple(self._user_of_handle[h] for h in mentioned_handles(text) if h in self._user_of_handle)
            tweets.append(PlannedTweet(snowflake(ms), author, text, ms, mentions))
        return tweets

    def __iter__(self) -> Iterator[list[PlannedTweet]]:
        for number in range(self.chunks):
            yield self.chunk(number)

    def _handle(self, user: int) -> str:
        handle = self._handle_of(user)
        self._user_of_handle[handle] = user
        return handle
