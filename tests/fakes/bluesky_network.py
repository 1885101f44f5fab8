"""The data behind FakeBluesky: accounts, posts and the brand's notifications, and the XRPC
methods that read or write them, answering as the reference PDS and AppView do."""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from atproto_client.utils.facet_detection import _grapheme_len

POST = "app.bsky.feed.post"
_B32 = "abcdefghijklmnopqrstuvwxyz234567"
_RKEY = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._:~-")


def _one(params: dict[str, list[str]], name: str) -> str | None:
    values = params.get(name)
    return values[0] if values else None


class XrpcError(Exception):
    def __init__(self, status: int, error: str, message: str) -> None:
        super().__init__(f"{status} {error}: {message}")
        self.status, self.error, self.message = status, error, message


@dataclass
class User:
    did: str
    handle: str
    name: str | None
    followers: int

    def view(self) -> dict[str, Any]:
        view: dict[str, Any] = {"did": self.did, "handle": self.handle, "labels": []}
        if self.name:
            view["displayName"] = self.name
        return view


@dataclass
class Post:
    uri: str
    cid: str
    author: str
    record: dict[str, Any]
    indexed_at: str

    def view(self) -> dict[str, Any]:
        return {"uri": self.uri, "cid": self.cid, "value": self.record}

    def ref(self) -> dict[str, str]:
        return {"uri": self.uri, "cid": self.cid}


def _hash32(data: str, length: int) -> str:
    digest = hashlib.sha256(data.encode()).digest()
    bits = int.from_bytes(digest, "big")
    return "".join(_B32[(bits >> (5 * i)) & 31] for i in range(length))


class Network:
    def __init__(self, brand_handle: str) -> None:
        self.users: dict[str, User] = {}
        self.posts: dict[str, Post] = {}
        self.notifications: list[dict[str, Any]] = []
        self._last = datetime.now(UTC) - timedelta(seconds=1)
        self._seq = 0
        self.brand = self.add_user(brand_handle, "Brand", 1000)

    def add_user(self, handle: str, name: str | None, followers: int) -> User:
        user = User("did:plc:" + _hash32(handle, 24), handle, name, followers)
        self.users[user.did] = user
        return user

    def find(self, actor: str) -> User | None:
        actor = actor.removeprefix("@")
        return self.users.get(actor) or next(
            (u for u in self.users.values() if u.handle == actor), None
        )

    def _now(self) -> str:
        moment = max(datetime.now(UTC), self._last + timedelta(milliseconds=1))
        self._last = moment
        return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"

    def _store(self, author: str, record: dict[str, Any], rkey: str | None = None) -> Post:
        self._seq += 1
        rkey = rkey or "3l" + _hash32(f"{author}{self._seq}{time.time_ns()}", 11)
        uri = f"at://{author}/{POST}/{rkey}"
        cid = "bafyrei" + _hash32(json.dumps(record, sort_keys=True) + uri, 52)
        post = Post(uri, cid, author, record, self._now())
        self.posts[uri] = post
        return post

    def post(
        self,
        handle: str,
        text: str,
        *,
        reply_to: str | None = None,
        quote: str | None = None,
        langs: list[str] | None = None,
        created_at: str | None = None,
    ) -> Post:
        """A customer's post. It notifies the brand as a reply (to a brand post), a mention
        ("@brand.test" in the text) or a quote (of a brand post), in that order."""
        user = self.find(handle)
        if user is None:
            raise KeyError(f"no user {handle!r}: add_user first")
        record: dict[str, Any] = {"$type": POST, "text": text, "langs": langs or ["en"]}
        record["createdAt"] = created_at or self._now()
        parent = self.posts[reply_to] if reply_to else None
        if parent is not None:
            root = parent.record.get("reply", {}).get("root") or parent.ref()
            record["reply"] = {"root": root, "parent": parent.ref()}
        mention = f"@{self.brand.handle}"
        if mention in text:
            start = len(text[: text.index(mention)].encode())
            index = {"byteStart": start, "byteEnd": start + len(mention.encode())}
            feature = {"$type": "app.bsky.richtext.facet#mention", "did": self.brand.did}
            record["facets"] = [{"index": index, "features": [feature]}]
        quoted = self.posts[quote] if quote else None
        if quoted is not None:
            record["embed"] = {"$type": "app.bsky.embed.record", "record": quoted.ref()}
        post = self._store(user.did, record)
        if parent is not None and parent.author == self.brand.did:
            self._notify(post, "reply", parent.uri)
        elif mention in text:
            self._notify(post, "mention", None)
        elif quoted is not None and quoted.author == self.brand.did:
            self._notify(post, "quote", quoted.uri)
        return post

    def _notify(self, post: Post, reason: str, subject: str | None) -> None:
        note = {
            "uri": post.uri,
            "cid": post.cid,
            "author": self.users[post.author].view(),
            "reason": reason,
            "record": post.record,
            "isRead": False,
            # The AppView's sortAt: a post whose createdAt is in the past sorts back there.
            "indexedAt": min(post.indexed_at, str(post.record["createdAt"]), key=_moment),
            "labels": [],
        }
        if subject:
            note["reasonSubject"] = subject
        self.notifications.append(note)

    # -- XRPC methods that need a session --------------------------------------------------

    def answer(self, caller: str, nsid: str, params: dict[str, list[str]], body: Any) -> Any:
        if nsid == "app.bsky.actor.getProfile":
            user = self.find(_one(params, "actor") or "")
            if user is None:
                raise XrpcError(400, "InvalidRequest", "Profile not found")
            return self._profile(user)
        if nsid == "app.bsky.actor.getProfiles":
            actors = params.get("actors", [])
            if not actors or len(actors) > 25:
                raise XrpcError(400, "InvalidRequest", "actors must hold 1 to 25 items")
            found = [self.find(a) for a in actors]
            return {"profiles": [self._profile(u) for u in found if u is not None]}
        if nsid == "app.bsky.notification.listNotifications":
            return self._list_notifications(caller, params)
        if nsid == "com.atproto.repo.createRecord":
            return self._create_record(caller, body if isinstance(body, dict) else {})
        if nsid == "com.atproto.repo.getRecord":
            repo = self.find(_one(params, "repo") or "")
            uri = f"at://{repo.did if repo else '?'}/{_one(params, 'collection')}/"
            post = self.posts.get(uri + str(_one(params, "rkey")))
            if post is None:
                raise XrpcError(400, "RecordNotFound", f"Could not locate record: {uri}")
            return post.view()
        raise XrpcError(501, "MethodNotImplemented", f"Method Not Implemented: {nsid}")

    def _profile(self, user: User) -> dict[str, Any]:
        return {
            **user.view(),
            "followersCount": user.followers,
            "followsCount": 3,
            "postsCount": sum(1 for p in self.posts.values() if p.author == user.did),
            "indexedAt": "2024-01-01T00:00:00.000Z",
        }

    def _list_notifications(self, caller: str, params: dict[str, list[str]]) -> dict[str, Any]:
        limit = int(_one(params, "limit") or 50)
        if not 1 <= limit <= 100:
            raise XrpcError(400, "InvalidRequest", "limit must be between 1 and 100")
        notes = self.notifications if caller == self.brand.did else []
        reasons = set(params.get("reasons", []))
        if reasons:
            notes = [n for n in notes if n.get("reason") in reasons]
        ordered = sorted(notes, key=_sort_key, reverse=True)
        cursor = _one(params, "cursor")
        if cursor:
            at, _, uri = cursor.partition("|")
            ordered = [n for n in ordered if _sort_key(n) < (at, uri)]
        page = ordered[:limit]
        answer: dict[str, Any] = {"notifications": page}
        if len(ordered) > limit:
            answer["cursor"] = "|".join(_sort_key(page[-1]))
        return answer

    def _create_record(self, caller: str, body: dict[str, Any]) -> dict[str, Any]:
        repo = self.find(str(body.get("repo", "")))
        if repo is None or repo.did != caller:
            raise XrpcError(401, "AuthenticationRequired", "Authentication Required")
        record, rkey = body.get("record"), body.get("rkey")
        if body.get("collection") != POST or not isinstance(record, dict):
            raise XrpcError(400, "InvalidRequest", "this fake stores app.bsky.feed.post only")
        if rkey is not None and (not set(str(rkey)) <= _RKEY or rkey in (".", "..")):
            raise XrpcError(400, "InvalidRequest", f"Invalid record key: {rkey}")
        problem = _post_problem(record)
        if problem:
            raise XrpcError(400, "InvalidRequest", f"Invalid {POST} record: {problem}")
        if rkey and f"at://{caller}/{POST}/{rkey}" in self.posts:
            raise XrpcError(500, "InternalServerError", "Internal Server Error")
        post = self._store(caller, record, rkey)
        commit = {"cid": "bafyrei" + _hash32(post.cid, 52), "rev": "3l" + _hash32(post.uri, 11)}
        return {**post.ref(), "commit": commit, "validationStatus": "valid"}


def _moment(value: str) -> datetime:
    return datetime.fromisoformat(value)


def _sort_key(note: dict[str, Any]) -> tuple[str, str]:
    return str(note.get("indexedAt", "")), str(note.get("uri", ""))


def _post_problem(record: dict[str, Any]) -> str | None:
    text = record.get("text")
    if record.get("$type") != POST or not isinstance(text, str):
        return "Record/$type must be app.bsky.feed.post and Record/text a string"
    if _grapheme_len(text) > 300 or len(text.encode()) > 3000:
        return "Record/text must not be longer than 300 graphemes"
    if not isinstance(record.get("createdAt"), str):
        return 'Record must have the property "createdAt"'
    reply = record.get("reply")
    if reply is not None:
        for part in ("root", "parent"):
            ref = reply.get(part) if isinstance(reply, dict) else None
            if not (isinstance(ref, dict) and isinstance(ref.get("uri"), str) and ref.get("cid")):
                return f"Record/reply/{part} must be a strong ref (uri + cid)"
    return None
