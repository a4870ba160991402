"""The use cases of svc_tweet: reading (hydration), posting, deleting, retweeting, media uploads,
likes and comments.

Plain async classes over the ports (ports.py); they raise the typed errors of domain.py and never
see protobuf or gRPC. The caller is passed in as a user id (None when anonymous), which grpc_api.py
takes from the verified identity of the call, never from a request body.

Consistency: writes go to the store at LOCAL_QUORUM (mesh/cql.py's default profile), so a tweet
is acknowledged only once a quorum of the local datacenter's replicas stored it, and a read that
follows sees it. The Redis caches only ever hold copies and are bypassed when a read of them
fails; but a like, unlike, retweet or undo whose invalidation of the caller's marks failed answers
Unavailable (its change is committed, and its retry invalidates again).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import TypeVar

from mesh.aio import gather_bounded
from mesh.errors import DomainError, NotTheCaller, Unavailable, UserNotFound, require_caller
from mesh.paging import decode_page_token, encode_page_token, page_size
from mesh.shared_loads import SharedLoads, unshared
from svc_tweet.domain import (
    MAX_MENTIONS,
    AuthorListPosition,
    AuthorProfile,
    CallerMarks,
    Comment,
    CommentDeleted,
    CommentDraft,
    CommentNotFound,
    CommentRemoval,
    HydratedComment,
    HydratedTweet,
    Like,
    Liker,
    Media,
    MediaAlreadyAttached,
    MediaNotFound,
    MediaNotReady,
    MediaRef,
    MediaState,
    MediaView,
    NotAllowedToDeleteComment,
    NotTheAuthor,
    RetweetUndone,
    Tweet,
    TweetCounts,
    TweetDeleted,
    TweetDraft,
    TweetNotFound,
    TweetRemoval,
    TweetView,
    UploadNotFound,
    UploadRejected,
    UploadSlot,
    check_media_mix,
    events_announcing,
    events_announcing_comment,
    like_created,
    like_deleted,
    media_object_key,
    mentioned_handles,
    upload_mismatch,
)
from svc_tweet.ports import (
    Clock,
    CommentStore,
    IdGenerator,
    LikeStore,
    MarksCache,
    MediaStore,
    ObjectStore,
    TweetCache,
    TweetStore,
    UserDirectory,
)

log = logging.getLogger("svc_tweet.service")

Claimed = TypeVar("Claimed")  # the draft a create claimed its request id with (a tweet's or a comment's)


@dataclass(frozen=True)
class TweetSettings:
    default_page_size: int = 20
    max_page_size: int = 100
    # how long a pre-signed upload URL accepts the file, and a download URL serves it
    upload_url_ttl_s: int = 900
    download_url_ttl_s: int = 3600
    max_mentions: int = MAX_MENTIONS
    # A media claimed by a tweet that is still not stored this long after the claim belongs to a
    # post that failed half way (its request timed out long ago): it may go to another tweet.
    abandoned_attachment_after: timedelta = timedelta(minutes=2)
    # a user with more likes or retweets than this has their marks cached per tweet, not whole
    # (TweetReader): bounds a cache entry and the read that fills it
    max_cached_marks: int = 1000


@dataclass(frozen=True)
class TweetPage:
    tweets: list[HydratedTweet]
    next_page_token: str


@dataclass(frozen=True)
class LikerPage:
    users: list[Liker]
    next_page_token: str


@dataclass(frozen=True)
class CommentPage:
    comments: list[HydratedComment]
    next_page_token: str


def _unique(items: Sequence[int]) -> list[int]:
    return list(dict.fromkeys(items))


async def mentioned_user_ids(users: UserDirectory, text: str, limit: int) -> tuple[int, ...]:
    """The users the text mentions (@handle of existing users), in order, once each."""
    handles = mentioned_handles(text, limit)
    if not handles:
        return ()
    by_handle = await users.user_ids_by_handle(handles)
    return tuple(dict.fromkeys(by_handle[h] for h in handles if h in by_handle))


async def claimed_before(
    refused: DomainError, request_id: str, find_claim: Callable[[], Awaitable[Claimed | None]]
) -> Claimed:
    """What the first attempt of a retry claimed, when the retry's own draft was refused.

    Creates make their draft before claiming the request id, with no read of the claim first (the
    claim, IF NOT EXISTS, answers a retry with the first attempt's draft). So a retry whose draft
    is refused now (the tweet replied to or commented on deleted since, ...) reads the claim: a first
    attempt that was claimed is the answer, whatever changed since. An outage (Unavailable) is no
    refusal, and a request with no id or no claim gets the refusal itself."""
    if isinstance(refused, Unavailable) or not request_id:
        raise refused
    earlier = await find_claim()
    if earlier is None:
        raise refused
    return earlier


async def live_original(tweets: TweetStore, tweet_id: int, role: str) -> Tweet:
    """The live tweet an id names; for a retweet, its original (replies, quotes, retweets, likes
    and comments always point at an original). Read from the store, not the cache: writes check
    the truth."""
    found = (await tweets.get_many([tweet_id])).get(tweet_id)
    if found is None or found.is_deleted:
        raise TweetNotFound(tweet_id, role=role)
    if found.retweet_of_tweet_id is not None:
        return await live_original(tweets, found.retweet_of_tweet_id, role)
    return found


class TweetReader:
    """Reads tweets and hydrates them: author, media URLs, counts, caller flags, referenced tweet.

    Per call: the cache (one lookup per level), the store for what it misses, one BatchGetUsers for
    every author on the page and one lookup of the caller's marks (liked, retweeted), whatever the
    page size; for the tweets whose marks it misses, one read each of the caller's retweets and
    likes. The reader owns the marks cache: Tweets and Likes report every committed change of a
    user's marks to it (marks_changed).
    """

    def __init__(
        self, tweets: TweetStore, cache: TweetCache, users: UserDirectory, objects: ObjectStore, settings: TweetSettings,
        *, likes: LikeStore, comments: CommentStore, marks: MarksCache,
    ):
        self._tweets = tweets
        self._likes = likes
        self._comments = comments
        self._cache = cache
        self._marks = marks
        self._users = users
        self._objects = objects
        self._settings = settings
        self._view_loads: SharedLoads[tuple[int, object], TweetView] = SharedLoads()

    async def views(self, tweet_ids: Sequence[int]) -> dict[int, TweetView]:
        """The live tweets among `tweet_ids` with their counts: read through the cache."""
        wanted = _unique(tweet_ids)
        if not wanted:
            return {}
        cached = await self._cache.lookup(wanted)
        missing = [tweet_id for tweet_id in wanted if tweet_id not in cached.hits]
        if not missing:
            return cached.hits

        async def read_keys(keys: list[tuple[int, object]]) -> dict[tuple[int, object], TweetView]:
            views = await self._read_views([tweet_id for tweet_id, _ in keys])
            return {key: views[key[0]] for key in keys if key[0] in views}

        # a tweet shown in many homes is missed by many reads at once when the cache is cold: they
        # share one read of it under the same cached version (mesh/shared_loads.py)
        keys = [(tweet_id, cached.versions.get(tweet_id) or unshared()) for tweet_id in missing]
        fresh = {tweet_id: view for (tweet_id, _), view in (await self._view_loads.load(keys, read_keys)).items()}
        await self._cache.store(fresh, cached.versions)
        return {**cached.hits, **fresh}

    async def _read_views(self, tweet_ids: list[int]) -> dict[int, TweetView]:
        """The live tweets among `tweet_ids` with their counts, from the store (six reads a tweet)."""
        stored = await self._tweets.get_many(tweet_ids)
        live = [tweet for tweet in stored.values() if not tweet.is_deleted]
        live_ids = [tweet.tweet_id for tweet in live]
        counts, likes, comments = await asyncio.gather(
            self._tweets.counts(live_ids), self._likes.counts(live_ids), self._comments.counts(live_ids)
        )
        return {
            tweet_id: TweetView(
                stored[tweet_id],
                replace(counts.get(tweet_id, TweetCounts()), likes=likes.get(tweet_id, 0), comments=comments.get(tweet_id, 0)),
            )
            for tweet_id in live_ids
        }

    async def hydrate(
        self, caller: int, tweet_ids: Sequence[int], *, also_authors: Sequence[int] = ()
    ) -> tuple[list[HydratedTweet], dict[int, AuthorProfile] | None]:
        """The visible tweets among `tweet_ids`, hydrated, in the order given, and the profiles
        fetched on the way (with those of `also_authors`; None if the directory did not answer)."""
        return await self.present(caller, tweet_ids, await self.views(tweet_ids), also_authors=also_authors)

    async def present(
        self, caller: int, tweet_ids: Sequence[int], views: dict[int, TweetView], *, also_authors: Sequence[int] = (),
        known_marks: Mapping[int, CallerMarks] | None = None,
    ) -> tuple[list[HydratedTweet], dict[int, AuthorProfile] | None]:
        """Hydrate tweets whose views are known; their quoted and retweeted tweets are read here.
        `known_marks`: the caller's marks on originals the caller of this method knows already."""
        known_marks = known_marks or {}
        referenced = {ref for view in views.values() for ref in (view.tweet.quoted_tweet_id, view.tweet.retweet_of_tweet_id)
                      if ref is not None}
        known = {**await self.views([ref for ref in referenced if ref not in views]), **views}
        originals = _unique([view.tweet.original_id for view in known.values()])
        authors, looked_up = await asyncio.gather(
            self._users.profiles(_unique([view.tweet.author_id for view in known.values()] + list(also_authors))),
            self._marks_of(caller, [tweet_id for tweet_id in originals if tweet_id not in known_marks]),
        )
        marks = {**looked_up, **known_marks}
        hydrated = []
        for tweet_id in tweet_ids:
            view = views.get(tweet_id)
            if view is None:
                continue
            if view.tweet.is_retweet and view.tweet.retweet_of_tweet_id not in known:
                continue  # a retweet of a deleted tweet has nothing left to show
            hydrated.append(self._assemble(view, known, authors or {}, marks, nested=False))
        return hydrated, authors

    async def _marks_of(self, caller: int, original_ids: list[int]) -> dict[int, CallerMarks]:
        """The caller's marks on these originals: cached, else read from both stores and cached
        under the version the lookup saw before the reads.

        The first miss reads every like and retweet of the caller and caches them whole: from
        then on the caller's marks on any tweet come from the cache, shown before or not (cached
        per tweet only, every page of someone else's timeline missed: two store reads). A caller
        with more than `max_cached_marks` of either is cached as such, and read per tweet."""
        if not original_ids:
            return {}
        cached = await self._marks.lookup(caller, original_ids)
        if cached.complete:
            return {tweet_id: cached.hits.get(tweet_id, CallerMarks()) for tweet_id in original_ids}
        missing = [tweet_id for tweet_id in original_ids if tweet_id not in cached.hits]
        if not missing:
            return cached.hits
        if not cached.too_many and cached.version is not None:
            every = await self._every_mark(caller)
            await self._marks.store_all(caller, every, cached.version)
            if every is not None:
                return {tweet_id: every.get(tweet_id, CallerMarks()) for tweet_id in original_ids}
        retweeted, liked = await asyncio.gather(
            self._tweets.retweeted_by(caller, missing), self._likes.liked_by(caller, missing)
        )
        read = {tweet_id: CallerMarks(liked=tweet_id in liked, retweeted=tweet_id in retweeted) for tweet_id in missing}
        await self._marks.store(caller, read, cached.version)
        return {**cached.hits, **read}

    async def _every_mark(self, user_id: int) -> dict[int, CallerMarks] | None:
        """Every tweet the user liked or retweeted, with the marks; None if there are more than
        the cache keeps whole of either."""
        cap = self._settings.max_cached_marks
        retweeted, liked = await asyncio.gather(
            self._tweets.retweets_of(user_id, cap + 1), self._likes.likes_of(user_id, cap + 1)
        )
        if len(retweeted) > cap or len(liked) > cap:
            return None
        retweeted_set, liked_set = set(retweeted), set(liked)
        return {tweet_id: CallerMarks(liked=tweet_id in liked_set, retweeted=tweet_id in retweeted_set)
                for tweet_id in retweeted_set | liked_set}

    async def marks_changed(self, user_id: int) -> None:
        """After a committed like, unlike, retweet or undo by the user, or a retry of one (whose
        first attempt may have died before this). Raises Unavailable if the cache could not be
        told: the mutation is idempotent, and its retry tells it again."""
        await self._marks.invalidate(user_id)

    def _assemble(
        self, view: TweetView, known: dict[int, TweetView], authors: dict[int, AuthorProfile],
        marks: dict[int, CallerMarks], *, nested: bool,
    ) -> HydratedTweet:
        tweet = view.tweet
        quoted = retweet_of = None
        if not nested:  # referenced tweets one level deep, as the contract says
            if tweet.quoted_tweet_id in known:
                quoted = self._assemble(known[tweet.quoted_tweet_id], known, authors, marks, nested=True)
            if tweet.retweet_of_tweet_id in known:
                retweet_of = self._assemble(known[tweet.retweet_of_tweet_id], known, authors, marks, nested=True)
        # for a retweet, the state of the buttons of what it shows: the original
        mine = marks[tweet.original_id]
        return HydratedTweet(
            tweet=tweet,
            counts=view.counts,
            author=authors.get(tweet.author_id),
            media=tuple(self._media_view(tweet.author_id, ref) for ref in tweet.media),
            caller_retweeted=mine.retweeted,
            caller_liked=mine.liked,
            quoted=quoted,
            retweeted=retweet_of,
        )

    def _media_view(self, owner_id: int, ref: MediaRef) -> MediaView:
        url = self._objects.download_url(media_object_key(owner_id, ref.media_id), self._settings.download_url_ttl_s)
        return MediaView(ref=ref, owner_id=owner_id, url=url)

    # --- use cases ----------------------------------------------------------------------------

    async def get_tweet(self, caller: int | None, tweet_id: int) -> HydratedTweet:
        me = require_caller(caller)
        found, _ = await self.hydrate(me, [tweet_id])
        if not found:
            raise TweetNotFound(tweet_id)
        return found[0]

    async def batch_get_tweets(self, caller: int | None, tweet_ids: Sequence[int]) -> list[HydratedTweet]:
        me = require_caller(caller)
        found, _ = await self.hydrate(me, tweet_ids)
        return found

    async def list_user_tweets(
        self, caller: int | None, user_id: int, requested_size: int, token: str,
        *, exclude_replies: bool = False, exclude_retweets: bool = False,
    ) -> TweetPage:
        me = require_caller(caller)
        # the filters are part of the list a token walks: a token of another filter is refused
        listing = f"user_tweets:{int(exclude_replies)}{int(exclude_retweets)}"
        position = decode_page_token(token, listing, user_id, arity=2)
        limit = page_size(requested_size, default=self._settings.default_page_size, maximum=self._settings.max_page_size)
        page = await self._tweets.page_by_author(
            user_id, AuthorListPosition(*position) if position else None, limit,
            exclude_replies=exclude_replies, exclude_retweets=exclude_retweets,
        )
        tweets, authors = await self.hydrate(me, page.tweet_ids, also_authors=(user_id,))
        # the directory tells whether the user exists; when it could not answer, list anyway
        if authors is not None and user_id not in authors:
            raise UserNotFound(user_id)
        after = page.next_position
        next_token = "" if after is None else encode_page_token(listing, user_id, (after.month, after.tweet_id))
        return TweetPage(tweets, next_token)

    async def list_replies(self, caller: int | None, tweet_id: int, requested_size: int, token: str) -> TweetPage:
        me = require_caller(caller)
        after = decode_page_token(token, "replies", tweet_id, arity=1)
        if not await self.views([tweet_id]):
            raise TweetNotFound(tweet_id)
        limit = page_size(requested_size, default=self._settings.default_page_size, maximum=self._settings.max_page_size)
        page = await self._tweets.page_replies(tweet_id, after[0] if after else None, limit)
        tweets, _ = await self.hydrate(me, page.reply_ids)
        next_token = "" if page.next_after is None else encode_page_token("replies", tweet_id, (page.next_after,))
        return TweetPage(tweets, next_token)


class Tweets:
    """Posting, deleting and retweeting.

    Exactly once, without transactions: each mutation first claims what must be unique with a
    conditional write (a request id, a (retweeter, original) pair, a media), the claim holding the
    whole tweet to write; then one atomic batch writes the tweet with its events. A retry, or a
    concurrent twin, that finds the claim writes that very tweet again, which is harmless.
    """

    def __init__(
        self,
        tweets: TweetStore,
        media: MediaStore,
        cache: TweetCache,
        users: UserDirectory,
        reader: TweetReader,
        ids: IdGenerator,
        clock: Clock,
        settings: TweetSettings,
    ):
        self._tweets = tweets
        self._media = media
        self._cache = cache
        self._users = users
        self._reader = reader
        self._ids = ids
        self._clock = clock
        self._settings = settings

    # --- posting ------------------------------------------------------------------------------

    async def create_tweet(
        self,
        caller: int | None,
        text: str,
        *,
        media_ids: Sequence[int] = (),
        in_reply_to_tweet_id: int | None = None,
        quoted_tweet_id: int | None = None,
        claimed_author_id: int | None = None,
        request_id: str = "",
    ) -> HydratedTweet:
        """Post a tweet. With a request id, a retry (or a concurrent duplicate) returns the tweet
        of the first attempt; without one, every call posts a new tweet."""
        me = require_caller(caller)
        if claimed_author_id is not None and claimed_author_id != me:
            raise NotTheCaller("user_id", claimed_author_id, action="post")
        # No read of the request claim first (claimed_before): the read was a CQL round trip on
        # every compose for the sake of retries (bench, compose alone at 10/s: ~3 ms of its p50).
        try:
            draft = await self._draft(me, text, media_ids, in_reply_to_tweet_id, quoted_tweet_id)
        except DomainError as refused:
            earlier = await claimed_before(refused, request_id, lambda: self._tweets.find_request(me, request_id))
            return await self._show_claimed(me, await self._finish(earlier))
        new_id = draft.tweet.tweet_id
        # the answer is assembled while the tweet is claimed and written: it needs only the draft
        # (bench, compose alone at 10/s: the answer took p50 13 ms after the write), and nobody
        # has liked or retweeted a tweet whose id was never given out
        twin, (shown, _) = await gather_bounded([
            self._claim_and_write(me, request_id, draft),
            self._reader.present(me, [new_id], {new_id: TweetView(draft.tweet, TweetCounts())},
                                 known_marks={new_id: CallerMarks()}),
        ], 2)
        if twin is not None:  # a concurrent twin claimed the request id first
            return await self._show_claimed(me, await self._finish(twin))
        return shown[0]

    async def _claim_and_write(self, me: int, request_id: str, draft: TweetDraft) -> TweetDraft | None:
        """Write the draft, after claiming the request id if there is one; returns the draft of a
        twin that claimed it first (and writes nothing) or None."""
        if request_id:
            claimed = await self._tweets.claim_request(me, request_id, draft)
            if claimed.tweet.tweet_id != draft.tweet.tweet_id:
                return claimed
        await self._write(draft)
        return None

    async def _draft(
        self, author_id: int, text: str, media_ids: Sequence[int], reply_to_id: int | None, quoted_id: int | None
    ) -> TweetDraft:
        """Check everything the tweet refers to (concurrently) and make the tweet to write."""
        reply_to, quoted, media, mentioned = await asyncio.gather(
            self._optional_original(reply_to_id, "tweet replied to"),
            self._optional_original(quoted_id, "tweet quoted"),
            self._attachable_media(author_id, media_ids),
            self._mentioned_user_ids(text),
        )
        tweet = Tweet(
            tweet_id=self._ids.new_id(),
            author_id=author_id,
            text=text,
            create_time=self._clock.now(),
            media=tuple(m.as_ref() for m in media),
            in_reply_to_tweet_id=reply_to.tweet_id if reply_to else None,
            in_reply_to_user_id=reply_to.author_id if reply_to else None,
            quoted_tweet_id=quoted.tweet_id if quoted else None,
            quoted_user_id=quoted.author_id if quoted else None,
            mentioned_user_ids=mentioned,
        )
        return TweetDraft(tweet, event_id=self._event_id())

    async def _optional_original(self, tweet_id: int | None, role: str) -> Tweet | None:
        return None if tweet_id is None else await live_original(self._tweets, tweet_id, role)

    async def _attachable_media(self, author_id: int, media_ids: Sequence[int]) -> list[Media]:
        if not media_ids:
            return []
        found = await self._media.get_many(media_ids)
        for media_id in media_ids:
            media = found.get(media_id)
            if media is None or media.owner_id != author_id:
                raise MediaNotFound(media_id)
            if media.state is not MediaState.READY:
                raise MediaNotReady(media_id, media.state)
        attached = [found[media_id] for media_id in media_ids]
        check_media_mix([media.content_type for media in attached])
        return attached

    async def _mentioned_user_ids(self, text: str) -> tuple[int, ...]:
        return await mentioned_user_ids(self._users, text, self._settings.max_mentions)

    async def _finish(self, draft: TweetDraft) -> Tweet:
        """The tweet of a claimed draft, written now if the attempt that claimed it has not (yet):
        it died after its claim, or runs beside us; writing the same draft twice is harmless."""
        stored = (await self._tweets.get_many([draft.tweet.tweet_id])).get(draft.tweet.tweet_id)
        if stored is not None:
            if stored.is_deleted:  # posted by the first attempt, deleted since
                raise TweetNotFound(stored.tweet_id)
            return stored
        await self._write(draft)
        return draft.tweet

    async def _show_claimed(self, me: int, tweet: Tweet) -> HydratedTweet:
        hydrated, _ = await self._reader.hydrate(me, [tweet.tweet_id])
        if not hydrated:  # deleted between the two reads
            raise TweetNotFound(tweet.tweet_id)
        return hydrated[0]

    async def _write(self, draft: TweetDraft) -> None:
        await self._attach_media(draft.tweet)
        await self._tweets.create(draft.tweet, events_announcing(draft))
        # the reply, quote or retweet count of the referenced tweets changed
        await self._cache.invalidate(draft.tweet.referenced_ids())

    async def _attach_media(self, tweet: Tweet) -> None:
        """Claim every media for the tweet; a media is attached to one tweet only. A claim held by
        a tweet never stored, long after it was made, is taken over (that post failed)."""
        media_ids = [ref.media_id for ref in tweet.media]
        if not media_ids:
            return
        holders = await self._media.attach(media_ids, tweet.tweet_id, self._clock.now())
        held_elsewhere = {m: h for m, h in holders.items() if h.tweet_id != tweet.tweet_id}
        if not held_elsewhere:
            return
        stored = await self._tweets.get_many(_unique([h.tweet_id for h in held_elsewhere.values()]))
        now = self._clock.now()
        for media_id, holder in held_elsewhere.items():
            abandoned = holder.tweet_id not in stored and now - holder.attach_time > self._settings.abandoned_attachment_after
            if abandoned and await self._media.reassign(media_id, holder.tweet_id, tweet.tweet_id, now):
                continue
            # this tweet will not be written: give back what it claimed
            await self._media.detach(media_ids, tweet.tweet_id)
            raise MediaAlreadyAttached(media_id)

    # --- deleting -----------------------------------------------------------------------------

    async def delete_tweet(self, caller: int | None, tweet_id: int) -> None:
        me = require_caller(caller)
        tweet = (await self._tweets.get_many([tweet_id])).get(tweet_id)
        if tweet is None or tweet.is_deleted:
            raise TweetNotFound(tweet_id)
        if tweet.author_id != me:
            raise NotTheAuthor(tweet_id)
        if tweet.is_retweet:  # deleting a retweet undoes it
            await self._remove_retweet(me, tweet)
            return
        now = self._clock.now()
        await self._tweets.delete(TweetRemoval(tweet, now, TweetDeleted(self._event_id(), now, tweet)))
        await self._cache.invalidate((tweet.tweet_id, *tweet.referenced_ids()))

    # --- retweets -----------------------------------------------------------------------------

    async def retweet(self, caller: int | None, tweet_id: int) -> tuple[int, int]:
        """Retweet as the caller; returns (retweet id, original id). Retweeting again returns the
        same retweet; retweeting a retweet retweets its original."""
        me = require_caller(caller)
        original = await live_original(self._tweets, tweet_id, "tweet")
        draft = TweetDraft(
            Tweet(
                tweet_id=self._ids.new_id(),
                author_id=me,
                text="",
                create_time=self._clock.now(),
                retweet_of_tweet_id=original.tweet_id,
                retweet_of_user_id=original.author_id,
            ),
            event_id=self._event_id(),
        )
        for _ in range(2):
            holder = await self._tweets.claim_retweet(draft)
            if holder.tweet.tweet_id == draft.tweet.tweet_id:
                break
            stored = (await self._tweets.get_many([holder.tweet.tweet_id])).get(holder.tweet.tweet_id)
            if stored is None:  # claimed, not written (yet): write that very retweet
                draft = holder
                break
            if not stored.is_deleted:  # already retweeted (maybe by a first attempt that died before telling)
                await self._reader.marks_changed(me)
                return stored.tweet_id, original.tweet_id
            # the claim names a deleted retweet: an undo stopped between its two writes; finish it
            await self._tweets.release_retweet(me, original.tweet_id, holder.tweet.tweet_id)
        else:
            raise Unavailable("the retweet kept conflicting with an undo of it; try again", reason="RETWEET_CONFLICT")
        await self._reader.marks_changed(me)  # caller_retweeted is the claim, which is committed now
        await self._tweets.create(draft.tweet, events_announcing(draft))
        await self._cache.invalidate([original.tweet_id])  # its retweet count changed
        return draft.tweet.tweet_id, original.tweet_id

    async def undo_retweet(self, caller: int | None, tweet_id: int) -> None:
        """Undo the caller's retweet of a tweet (or of the original a retweet id names); succeeds
        when there is none."""
        me = require_caller(caller)
        claim = await self._tweets.find_retweet(me, tweet_id)
        if claim is None:
            target = (await self._tweets.get_many([tweet_id])).get(tweet_id)
            if target is None:
                raise TweetNotFound(tweet_id)
            if target.retweet_of_tweet_id is not None:
                claim = await self._tweets.find_retweet(me, target.retweet_of_tweet_id)
        if claim is None:  # nothing to undo, or a first attempt undid it and died before telling
            await self._reader.marks_changed(me)
            return
        await self._remove_retweet(me, claim.tweet)

    async def _remove_retweet(self, me: int, retweet: Tweet) -> None:
        """Delete the retweet (with its RetweetUndone), then release its claim. In this order, a
        crash in between leaves a claim on a deleted retweet, which the next retweet or undo
        repairs; the other order could leave a retweet no claim points at, which nothing would."""
        stored = (await self._tweets.get_many([retweet.tweet_id])).get(retweet.tweet_id)
        if stored is None or not stored.is_deleted:
            now = self._clock.now()
            await self._tweets.delete(TweetRemoval(retweet, now, RetweetUndone(self._event_id(), now, retweet)))
        await self._tweets.release_retweet(me, retweet.original_id, retweet.tweet_id)
        await self._cache.invalidate([retweet.tweet_id, retweet.original_id])
        await self._reader.marks_changed(me)  # caller_retweeted was the claim

    def _event_id(self) -> str:
        return str(self._ids.new_id())


class Likes:
    """Liking, unliking, and who likes a tweet.

    A like is claimed, then recorded. The claim (a conditional write per tweet and user) is the
    like: concurrent likes of one user agree on one like, with one LikeCreated, and the tweet's
    count is a COUNT of its claims, so it is the number of distinct likers whatever the
    interleaving. Recording it is one atomic batch: the rows that list it and answer caller_liked,
    and its event.

    An unlike releases the claim (from then on, a like of that user is a new like), then erases
    the like. An erase is aimed at one like and wins over its recording whichever lands first, so
    a like recorded late by a retry racing the unlike stays undone. A crash between the two steps
    leaves rows of a like no claim holds: lists skip them, and the user's next unlike erases them.
    """

    def __init__(
        self, tweets: TweetStore, likes: LikeStore, cache: TweetCache, users: UserDirectory, reader: TweetReader,
        ids: IdGenerator, clock: Clock, settings: TweetSettings,
    ):
        self._tweets = tweets
        self._likes = likes
        self._cache = cache
        self._users = users
        self._reader = reader
        self._ids = ids
        self._clock = clock
        self._settings = settings

    async def like_tweet(self, caller: int | None, tweet_id: int) -> None:
        """Like as the caller; liking again is fine and changes nothing. Liking a retweet likes
        its original (what the like button of a retweet shows)."""
        me = require_caller(caller)
        original = await live_original(self._tweets, tweet_id, "tweet")
        like = Like(self._ids.new_id(), original.tweet_id, me, original.author_id, self._clock.now())
        holder = await self._likes.claim(like)
        if holder.like_id != like.like_id:
            if any(r.like_id == holder.like_id for r in await self._likes.recorded(me, original.tweet_id)):
                # already liked (maybe by a first attempt that died before telling)
                await self._reader.marks_changed(me)
                return
            # claimed, not recorded (yet): the like that claimed it died or runs beside us
        await self._likes.record(holder, like_created(holder))
        await self._cache.invalidate([original.tweet_id])  # its like count changed
        await self._reader.marks_changed(me)  # caller_liked is the recorded like

    async def unlike_tweet(self, caller: int | None, tweet_id: int) -> None:
        """Remove the caller's like of a tweet (of its original, for a retweet); succeeds when
        there is none."""
        me = require_caller(caller)
        claim = await self._likes.find(me, tweet_id)
        if claim is None:
            target = (await self._tweets.get_many([tweet_id])).get(tweet_id)
            if target is None:
                raise TweetNotFound(tweet_id)
            if target.original_id != tweet_id:
                tweet_id = target.original_id
                claim = await self._likes.find(me, tweet_id)
        now = self._clock.now()
        erased = []
        if claim is not None:
            await self._likes.release(claim)
            erased.append(claim)  # whether or not its recording landed yet: the erase wins either way
        leftovers = [r for r in await self._likes.recorded(me, tweet_id) if claim is None or r.like_id != claim.like_id]
        if leftovers:
            # Left by an unlike that died half way, or recorded by a like made meanwhile, which
            # stays. The claim is read after the rows: a like is recorded only once its claim
            # committed, so a like seen above and not claimed now was released.
            current = await self._likes.find(me, tweet_id)
            erased += [r for r in leftovers if current is None or r.like_id != current.like_id]
        for like in erased:
            await self._likes.erase(like, like_deleted(like, now))
        if claim is not None:
            await self._cache.invalidate([tweet_id])  # its like count changed
        # caller_liked: erased now, or (with nothing to erase) by a first attempt that may have died before telling
        await self._reader.marks_changed(me)

    async def list_likers(self, caller: int | None, tweet_id: int, requested_size: int, token: str) -> LikerPage:
        """The users who like a tweet, most recent like first, with their profiles."""
        require_caller(caller)  # likers are public to every signed-in user
        before = decode_page_token(token, "likers", tweet_id, arity=1)
        if not await self._reader.views([tweet_id]):
            raise TweetNotFound(tweet_id)
        limit = page_size(requested_size, default=self._settings.default_page_size, maximum=self._settings.max_page_size)
        page = await self._likes.page_likers(tweet_id, before[0] if before else None, limit)
        profiles = await self._users.profiles(page.user_ids)
        if profiles is None:  # the directory did not answer: ids only
            likers = [Liker(user_id, None) for user_id in page.user_ids]
        else:  # users who no longer exist are left out
            likers = [Liker(user_id, profiles[user_id]) for user_id in page.user_ids if user_id in profiles]
        next_token = "" if page.next_before is None else encode_page_token("likers", tweet_id, (page.next_before,))
        return LikerPage(likers, next_token)


class Comments:
    """Adding, listing and deleting comments.

    AddComment is exactly once per request id, as CreateTweet: the request id is claimed with the
    whole comment to write, then one atomic batch writes the comment with its events; a retry (or
    a concurrent twin) that finds the claim writes that very comment again, which is harmless.
    """

    def __init__(
        self, tweets: TweetStore, comments: CommentStore, cache: TweetCache, users: UserDirectory, reader: TweetReader,
        ids: IdGenerator, clock: Clock, settings: TweetSettings,
    ):
        self._tweets = tweets
        self._comments = comments
        self._cache = cache
        self._users = users
        self._reader = reader
        self._ids = ids
        self._clock = clock
        self._settings = settings

    async def add_comment(self, caller: int | None, tweet_id: int, text: str, *, request_id: str = "") -> HydratedComment:
        """Comment on a tweet (on its original, for a retweet). Text rules (1..280 characters, not
        blank) are the proto's, enforced before this runs."""
        me = require_caller(caller)
        try:  # no read of the request claim first (claimed_before)
            draft = await self._draft(me, tweet_id, text)
        except DomainError as refused:
            earlier = await claimed_before(refused, request_id, lambda: self._comments.find_request(me, request_id))
            return await self._show(await self._finish(earlier))
        if request_id:
            claimed = await self._comments.claim_request(me, request_id, draft)
            if claimed.comment.comment_id != draft.comment.comment_id:  # a concurrent twin claimed it first
                return await self._show(await self._finish(claimed))
        await self._write(draft)
        return await self._show(draft.comment)

    async def _draft(self, author_id: int, tweet_id: int, text: str) -> CommentDraft:
        original, mentioned = await asyncio.gather(
            live_original(self._tweets, tweet_id, "tweet"),
            mentioned_user_ids(self._users, text, self._settings.max_mentions),
        )
        comment = Comment(
            comment_id=self._ids.new_id(),
            tweet_id=original.tweet_id,
            author_id=author_id,
            tweet_author_id=original.author_id,
            text=text,
            create_time=self._clock.now(),
        )
        return CommentDraft(comment, event_id=str(self._ids.new_id()), mentioned_user_ids=mentioned)

    async def _finish(self, draft: CommentDraft) -> Comment:
        """The comment of a claimed draft, written now if the attempt that claimed it has not (yet)."""
        stored = await self._comments.get(draft.comment.comment_id)
        if stored is not None:
            if stored.is_deleted:  # added by the first attempt, deleted since
                raise CommentNotFound(stored.tweet_id, stored.comment_id)
            return stored
        await self._write(draft)
        return draft.comment

    async def _write(self, draft: CommentDraft) -> None:
        await self._comments.create(draft.comment, events_announcing_comment(draft))
        await self._cache.invalidate([draft.comment.tweet_id])  # its comment count changed

    async def _show(self, comment: Comment) -> HydratedComment:
        profiles = await self._users.profiles([comment.author_id])
        return HydratedComment(comment, (profiles or {}).get(comment.author_id))

    async def list_comments(self, caller: int | None, tweet_id: int, requested_size: int, token: str) -> CommentPage:
        """The comments on a tweet, oldest first, with their authors' profiles."""
        require_caller(caller)
        after = decode_page_token(token, "comments", tweet_id, arity=1)
        if not await self._reader.views([tweet_id]):
            raise TweetNotFound(tweet_id)
        limit = page_size(requested_size, default=self._settings.default_page_size, maximum=self._settings.max_page_size)
        page = await self._comments.page(tweet_id, after[0] if after else None, limit)
        profiles = await self._users.profiles(_unique([c.author_id for c in page.comments])) or {}
        next_token = "" if page.next_after is None else encode_page_token("comments", tweet_id, (page.next_after,))
        return CommentPage([HydratedComment(c, profiles.get(c.author_id)) for c in page.comments], next_token)

    async def delete_comment(self, caller: int | None, tweet_id: int, comment_id: int) -> None:
        """Delete a comment: allowed to its author and to the author of the tweet it is on."""
        me = require_caller(caller)
        comment = await self._comments.get(comment_id)
        if comment is None or comment.is_deleted or comment.tweet_id != tweet_id:
            raise CommentNotFound(tweet_id, comment_id)
        if not comment.deletable_by(me):
            raise NotAllowedToDeleteComment(comment_id)
        now = self._clock.now()
        event = CommentDeleted(str(self._ids.new_id()), now, comment, actor_id=me)
        await self._comments.delete(CommentRemoval(comment, now, event))
        await self._cache.invalidate([comment.tweet_id])  # its comment count changed


class MediaLibrary:
    """Media uploads: a PENDING_UPLOAD slot with a pre-signed PUT URL, then a check of what
    arrived in the bucket before the media becomes READY (attachable and served)."""

    def __init__(self, media: MediaStore, objects: ObjectStore, ids: IdGenerator, clock: Clock, settings: TweetSettings):
        self._media = media
        self._objects = objects
        self._ids = ids
        self._clock = clock
        self._settings = settings

    async def create_upload(self, caller: int | None, content_type: str, size_bytes: int) -> UploadSlot:
        """Reserve a media id and hand out where to upload it. Type and size limits are the
        proto's rules, enforced before this runs; the URL's signature covers both, so the
        bucket refuses an upload of another type or size."""
        me = require_caller(caller)
        now = self._clock.now()
        media_id = self._ids.new_id()
        media = Media(
            media_id=media_id,
            owner_id=me,
            content_type=content_type,
            size_bytes=size_bytes,
            state=MediaState.PENDING_UPLOAD,
            object_key=media_object_key(me, media_id),
            create_time=now,
        )
        await self._media.insert(media)
        ttl = self._settings.upload_url_ttl_s
        upload = self._objects.upload_url(media.object_key, content_type, size_bytes, ttl)
        return UploadSlot(media, upload, expire_time=now + timedelta(seconds=ttl))

    async def complete_upload(self, caller: int | None, media_id: int) -> Media:
        """Check the uploaded object is the declared one and mark the media READY. Completing a
        READY media again returns it; a rejected one stays rejected."""
        me = require_caller(caller)
        media = await self._own_media(me, media_id)
        if media.state is MediaState.READY:
            return media
        if media.state is MediaState.FAILED:
            raise UploadRejected(media_id, media.failure_reason)
        stored = await self._objects.stat(media.object_key)
        if stored is None:
            raise UploadNotFound(media_id)  # still PENDING_UPLOAD: the client may upload, then complete
        mismatch = upload_mismatch(media, stored)
        if mismatch is not None:
            await self._media.update_state(replace(media, state=MediaState.FAILED, failure_reason=mismatch), self._clock.now())
            try:
                await self._objects.delete(media.object_key)
            except Exception:  # noqa: BLE001 - best effort: a FAILED media is never served anyway
                log.warning("could not delete the rejected upload of media %d", media_id, exc_info=True)
            raise UploadRejected(media_id, mismatch)
        ready = replace(media, state=MediaState.READY)
        await self._media.update_state(ready, self._clock.now())
        return ready

    async def get_media(self, caller: int | None, media_id: int) -> Media:
        return await self._own_media(require_caller(caller), media_id)

    def download_url(self, media: Media) -> str:
        """Where the media is served from; only READY media are."""
        if media.state is not MediaState.READY:
            return ""
        return self._objects.download_url(media.object_key, self._settings.download_url_ttl_s)

    async def _own_media(self, me: int, media_id: int) -> Media:
        media = (await self._media.get_many([media_id])).get(media_id)
        if media is None or media.owner_id != me:
            raise MediaNotFound(media_id)
        return media
