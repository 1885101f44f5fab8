"""`/crm` through the real app: signed slash commands in, the ephemeral answers checked.

Quick sub-commands answer in the HTTP ack; `find`, `stats` and `forget` ack at once and
answer through the response_url, which FakeSlack records (and validates like Slack).
"""

from __future__ import annotations

import json
import statistics
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from handlers.conversation_actions import OutcomeInput, add_note, claim_conversation, log_outcome
from handlers.roles import role_of
from handlers.search import period_stats
from storage.db import session_scope
from storage.models import (
    AuditEvent,
    Conversation,
    ConversationStatus,
    Customer,
    Identity,
    Message,
    OutboxItem,
    Outcome,
    OutcomeKind,
    Staff,
    StaffRole,
)
from storage.types import utcnow
from tests.fakes.slack import FakeSlack
from tests.fakes.slack_validation import check_message_content
from tests.pipeline import Pipeline, team_config
from tests.polling import wait_for

ADMIN = "UADMIN1"


# ------------------------------------------------------------------ helpers
def ask(pipe: Pipeline, command_text: str, user: str = "U1") -> dict[str, Any]:
    """The answer to `/crm <command_text>`, from the ack or, for slow ones, the response_url."""
    before = len(pipe.fake.responses)
    reply = pipe.slack.slash_command("/crm", command_text, user_id=user)
    assert reply.status == 200, (command_text, reply.status, reply.body[:300])
    if reply.body.strip():
        payload = reply.json()
        check_message_content(dict(payload))  # what Slack would accept
        assert payload["response_type"] == "ephemeral"
        return payload
    record = wait_for(lambda: pipe.fake.responses[before:], seconds=20)[0]
    assert record["payload"].get("response_type") == "ephemeral"
    return record["payload"]


def shown(payload: dict[str, Any]) -> str:
    return payload.get("text", "") + json.dumps(payload.get("blocks", []), ensure_ascii=False)


def post(
    pipe: Pipeline,
    message_id: str,
    body: str,
    *,
    author: str,
    thread_id: str | None = None,
    source: str | None = None,
    **who: Any,
) -> int:
    """One customer message through the signed webhook; the outbox is drained after."""
    payload: dict[str, Any] = {
        "message_id": message_id,
        "author": {"id": author, **who},
        "text": body,
    }
    if thread_id:
        payload["thread_id"] = thread_id
    if source:
        payload["source"] = source
    answer = pipe.webhook.post(payload)
    assert answer.status in (200, 202), answer.body
    pipe.drain()
    return int(answer.json()["conversation_id"])


def customer_of(pipe: Pipeline, cid: int) -> int:
    with session_scope(pipe.engine) as session:
        conv = session.get(Conversation, cid)
        assert conv is not None
        return conv.customer_id


@pytest.fixture
def admin_pipeline(engine: Engine, fake_slack: FakeSlack) -> Iterator[Pipeline]:
    pipe = Pipeline(engine, fake_slack, team_config(staff={"admins": [ADMIN]}))
    yield pipe
    pipe.stop()


# ------------------------------------------------------------------ help and bad input
@pytest.mark.parametrize(
    ("command_text", "expected"),
    [
        ("", "Threadline commands:"),
        ("help", "`/crm lookup"),
        ("frobnicate now", "I don't know `frobnicate`"),
        ("lookup", "Tell me who to look up"),
        ("find   ", "Tell me what to search for"),
        ("find " + "x" * 201, "at most 200 characters"),
        ("stats 9000d", "number of days"),
        ("stats soon", "number of days"),
        ("link @only-one", "exactly two customers"),
        ('link "unbalanced @a @b', "exactly two customers"),
        ("open please", "`open` takes no argument"),
        ("forget", "whose data to erase"),
        ("tag", "name of the new tag"),
    ],
)
def test_help_unknown_and_bad_arguments_answer_helpfully(
    sqlite_pipeline: Pipeline, command_text: str, expected: str
) -> None:
    answer = ask(sqlite_pipeline, command_text)
    assert expected in answer["text"], answer["text"]
    assert "Threadline commands:" in answer["text"]


def test_help_lists_every_sub_command(sqlite_pipeline: Pipeline) -> None:
    text = ask(sqlite_pipeline, "help")["text"]
    for name in ("lookup", "open", "mine", "find", "stats", "link", "forget", "tag"):
        assert f"`/crm {name}" in text


# ------------------------------------------------------------------ lookup
ANA = {
    "handle": "@ana_nova",
    "name": "Ana Nováková",
    "email": "Ana@Example.com",
    "url": "https://social.example/@ana_nova",
    "followers": 1200,
}


@pytest.mark.parametrize(
    "query",
    [
        "@ana_nova",
        "@ANA_NOVA",
        "ana@example.com",
        "<mailto:ana@example.com|ana@example.com>",  # as Slack sends a typed email
        "Ana Nováková",
        "nováková",
        "https://social.example/@ana_nova",
        "<https://social.example/@ana_nova>",
    ],
)
def test_lookup_finds_the_customer_by_handle_email_name_or_url(
    pipeline: Pipeline, query: str
) -> None:
    cid = post(
        pipeline, "a-1", "Dobrý den, aplikace po aktualizaci nefunguje.", author="ana", **ANA
    )
    conv = pipeline.fake.all_posts()[0]
    permalinks = pipeline.fake.count_calls("chat.getPermalink")  # the notice used one
    answer = shown(ask(pipeline, f"lookup {query}"))
    assert "Ana Nováková" in answer
    assert f"customer #{customer_of(pipeline, cid)}" in answer
    assert "<https://social.example/@ana_nova|@ana_nova>" in answer
    assert "1.2k followers" in answer and "ana@example.com" in answer
    thread = (
        f"https://threadline.slack.com/archives/{conv['channel']}/p{conv['ts'].replace('.', '')}"
    )
    assert thread in answer  # the card's thread, without a chat.getPermalink call
    assert pipeline.fake.count_calls("chat.getPermalink") == permalinks


def test_lookup_shows_one_record_across_two_networks_after_link(pipeline: Pipeline) -> None:
    pipe = pipeline
    first = post(
        pipe, "m-1", "The app crashes on start, broken!", author="m1", source="mastodon",
        handle="@ana@mastodon.example", name="Ana N.", followers=40,
    )  # fmt: skip
    second = post(
        pipe, "d-1", "How much is the pro plan? I want to buy it", author="d1",
        source="discord", handle="ana_d", name="Ana Discord", followers=15_000,
    )  # fmt: skip
    keep, gone = customer_of(pipe, first), customer_of(pipe, second)
    with session_scope(pipe.engine, write=True) as session:
        claim_conversation(session, second, "UAGENT", utcnow())
        log_outcome(
            session, second, "UAGENT",
            OutcomeInput(kind="sale", value=Decimal("120"), currency="EUR", stage="customer"),
            utcnow(),
        )  # fmt: skip
    answer = shown(ask(pipe, "link @ana@mastodon.example ana_d"))
    assert "Linked" in answer and f"#{gone}" in answer and f"#{keep}" in answer
    for query in ("@ana@mastodon.example", "@ana_d", "Ana Discord"):  # the merged name too
        card = shown(ask(pipe, f"lookup {query}"))
        assert f"customer #{keep}" in card
        assert "*Mastodon*" in card and "*Discord*" in card
        assert "15k followers" in card and "40 followers" in card
        assert "120.00 EUR" in card and "Sale ×1" in card and "<@UAGENT>" in card
        assert "(2 of 2)" in card and "🏷️ bug" in card and "1 merged record" in card
    with session_scope(pipe.engine) as session:
        merged = session.exec(select(AuditEvent).where(AuditEvent.action == "customer.merged"))
        assert [(e.actor, e.detail) for e in merged] == [("U1", {"merged_customer_id": gone})]
    assert "Nothing to link" in shown(ask(pipe, "link @ana_d Ana"))


def _customers(session: Session, names: list[str]) -> list[int]:
    ids = []
    for i, name in enumerate(names):
        customer = Customer(name=name)
        session.add(customer)
        session.flush()
        session.add(
            Identity(
                customer_id=customer.id, source="webhook", external_id=f"x{i}", handle=f"@n{i}"
            )
        )
        ids.append(customer.id or 0)
    return ids


def test_several_matches_give_a_short_list_and_none_says_how(sqlite_pipeline: Pipeline) -> None:
    with session_scope(sqlite_pipeline.engine, write=True) as session:
        ids = _customers(session, [f"Jan Novák {i}" for i in range(12)])
        erased = session.get(Customer, ids[0])
        assert erased is not None
        erased.erased_at = utcnow()
    answer = ask(sqlite_pipeline, "lookup Jan Novák")
    text = shown(answer)
    assert "matches 11 customers (showing 10)" in text
    assert text.count("• *Jan Novák") == 10 and "Jan Novák 0*" not in text  # erased: never shown
    assert "`/crm lookup @handle`" in text
    missing = ask(sqlite_pipeline, "lookup @nobody_here")
    assert "No customer matches “@nobody_here”" in missing["text"]
    ambiguous = shown(ask(sqlite_pipeline, "link Jan @n3"))
    assert "matches 11 customers" in ambiguous and "`/crm link @handle`" in ambiguous
    assert "No customer matches “@ghost”" in ask(sqlite_pipeline, "link @n3 @ghost")["text"]


def test_customer_text_in_lookup_answers_is_escaped(sqlite_pipeline: Pipeline) -> None:
    post(
        sqlite_pipeline, "e-1", "Hello <!channel> see <https://evil.example|your invoice>",
        author="evil", handle="@<@U0ADMIN>", name="<!here> *Boss* <https://evil.example|click>",
        url="https://evil.example/x|<!channel>",
    )  # fmt: skip
    for query in ("@<@U0ADMIN>", "Boss", "https://evil.example/x|<!channel>"):
        answer = shown(ask(sqlite_pipeline, f"lookup {query}"))
        assert "&lt;!here&gt; *Boss* &lt;https://evil.example|click&gt;" in answer
        assert "&lt;@U0ADMIN&gt;" in answer
        for raw in ("<!here>", "<!channel>", "<@U0ADMIN>", "<https://evil.example|click>"):
            assert raw not in answer, raw
    found = shown(ask(sqlite_pipeline, "find invoice"))
    assert "&lt;!channel&gt;" in found and "<!channel>" not in found


# ------------------------------------------------------------------ find
SCRIPTS = {
    "fa": "سفارش من هنوز نرسیده است، لطفا کمک کنید",
    "zh": "我的订单还没有到，请帮忙查询",
    "hi": "मेरा ऑर्डर अभी तक नहीं आया, कृपया मदद करें",
    "cs": "Dobrý den, aplikace po aktualizaci nefunguje. Příliš žluťoučký kůň.",
}


def test_find_searches_every_script_and_staff_notes(pipeline: Pipeline) -> None:
    pipe = pipeline
    convs = {
        lang: post(pipe, f"f-{lang}", body, author=f"u-{lang}", name=f"Author {lang}")
        for lang, body in SCRIPTS.items()
    }
    post(pipe, "f-en", "Nothing relevant here at all", author="u-en")
    with session_scope(pipe.engine, write=True) as session:
        add_note(
            session, convs["cs"], "UAGENT", "Zákazník čeká na vrácení peněz", "C1:1.2", utcnow()
        )
    cases = {
        "نرسیده": "fa",
        "订单还没": "zh",
        "订单": "zh",  # two characters: below the trigram index, a scan of recent messages
        "ऑर्डर अभी": "hi",
        "aktualizaci nefunguje": "cs",
        "APLIKACE": "cs",
        "žluťoučký kůň": "cs",
    }
    for query, lang in cases.items():
        answer = shown(ask(pipe, f"find {query}"))
        assert f"Author {lang}" in answer, (query, answer[:500])
        assert "1 newest message(s)" in answer, (query, answer[:300])
        assert "open the thread" in answer
    note = shown(ask(pipe, "find vrácení peněz"))
    assert "📝 note" in note and "Zákazník čeká" in note
    assert "newest messages (short searches" in shown(ask(pipe, "find 订单"))
    assert "Nothing found for “Zulu”" in ask(pipe, "find Zulu")["text"]


def test_find_keeps_up_with_edits_and_deletes_and_reads_queries_literally(
    pipeline: Pipeline,
) -> None:
    pipe = pipeline
    post(pipe, "k-1", "kiwifruit order number 42", author="k")
    post(pipe, "k-2", "papaya order 7", author="p")
    with session_scope(pipe.engine, write=True) as session:
        message = session.exec(select(Message).where(Message.external_id == "k-1")).one()
        message.text = "mango order number 42"
        session.add(message)
        session.delete(session.exec(select(Message).where(Message.external_id == "k-2")).one())
    assert "Nothing found" in ask(pipe, "find kiwifruit")["text"]
    assert "Nothing found" in ask(pipe, "find papaya")["text"]
    assert "1 newest message(s)" in ask(pipe, "find mango")["text"]
    for literal in ("mango_order", "mango%42", 'say "hi', "mango OR order*", "NEAR(a b)", "x\\y"):
        assert "Nothing found" in ask(pipe, f"find {literal}")["text"], literal


def test_the_search_index_survives_every_later_migration(engine: Engine) -> None:
    """A migration that rebuilds `message` in batch mode on SQLite drops the FTS triggers
    with the old table; this fails until that migration creates them again."""
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            query = "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'message'"
            expected = {"message_fts_insert", "message_fts_update", "message_fts_delete"}
        else:
            query = "SELECT indexname FROM pg_indexes WHERE tablename = 'message'"
            expected = {"ix_message_text_trgm"}
        assert expected <= set(conn.execute(text(query)).scalars())


# ------------------------------------------------------------------ queues
def _conversation(session: Session, customer_id: int, key: str, **fields: Any) -> Conversation:
    fields.setdefault("source", "webhook")
    conv = Conversation(external_thread_id=key, customer_id=customer_id, **fields)
    session.add(conv)
    session.flush()
    session.add(
        Message(
            conversation_id=conv.id or 0,
            source=conv.source,
            external_id=key,
            direction="in",
            text=f"text of {key}",
        )
    )
    return conv


def test_open_and_mine_list_the_right_conversations_in_order(pipeline: Pipeline) -> None:
    now = utcnow()
    with session_scope(pipeline.engine, write=True) as session:
        (customer,) = _customers(session, ["Queue Person"])
        open_, replied = ConversationStatus.OPEN, ConversationStatus.REPLIED
        rows = [  # key, priority, age in hours, status, assignee
            ("q-normal-old", 1, 30, open_, None),
            ("q-urgent-new", 3, 1, open_, None),
            ("q-high", 2, 5, open_, None),
            ("q-normal-new", 1, 2, open_, None),
            ("q-urgent-old", 3, 9, open_, None),
            ("q-claimed", 3, 40, open_, "UOTHER"),
            ("q-resolved", 3, 40, ConversationStatus.RESOLVED, None),
            ("q-suppressed", 3, 40, ConversationStatus.SUPPRESSED, None),
            ("m-low-old", 0, 50, replied, "U1"),
            ("m-urgent", 3, 3, open_, "U1"),
            ("m-resolved", 3, 3, ConversationStatus.RESOLVED, "U1"),
        ]
        for key, priority, hours, status, assignee in rows:
            _conversation(
                session, customer, key, priority=priority, status=status,
                assignee_slack_id=assignee, created_at=now - timedelta(hours=hours),
                slack_channel="C0SUPPORT", slack_ts=f"{1700000000 + hours}.000100",
            )  # fmt: skip
    opened = shown(ask(pipeline, "open"))
    order = ["q-urgent-old", "q-urgent-new", "q-high", "q-normal-old", "q-normal-new"]
    positions = [opened.index(f"text of {key}") for key in order]
    assert positions == sorted(positions)
    assert "(5 of 5)" in opened
    for absent in ("q-claimed", "q-resolved", "q-suppressed", "m-"):
        assert f"text of {absent}" not in opened
    assert "https://threadline.slack.com/archives/C0SUPPORT/p1700000009000100" in opened
    mine = shown(ask(pipeline, "mine", user="U1"))
    assert mine.index("text of m-urgent") < mine.index("text of m-low-old")
    assert "text of m-resolved" not in mine and "text of q-" not in mine
    assert "Nothing assigned to you" in ask(pipeline, "mine", user="UNOBODY")["text"]


# ------------------------------------------------------------------ stats
STATS_PLAN = [  # source, intent, age in days, minutes to first response, status, outcome
    ("mastodon", "complaint", 1, 10, ConversationStatus.REPLIED, ("sale", "100.50")),
    ("mastodon", "question", 2, 40, ConversationStatus.RESOLVED, ("sale", "20")),
    ("discord", "complaint", 3, None, ConversationStatus.OPEN, None),
    ("discord", "purchase_intent", 5, 130, ConversationStatus.RESOLVED, ("refund", "5")),
    ("webhook", "spam", 2, None, ConversationStatus.SUPPRESSED, ("spam", None)),
    ("webhook", "question", 12, 5, ConversationStatus.RESOLVED, ("sale", "7.25")),
    ("bluesky", "praise", 20, None, ConversationStatus.OPEN, None),
    ("bluesky", "complaint", 45, 3, ConversationStatus.RESOLVED, ("sale", "999")),
]


def _seed_stats(engine: Engine) -> None:
    now = utcnow()
    with session_scope(engine, write=True) as session:
        (customer,) = _customers(session, ["Stats Person"])
        for i, (source, intent, days, minutes, status, outcome) in enumerate(STATS_PLAN):
            opened = now - timedelta(days=days, minutes=i)
            answered = opened + timedelta(minutes=minutes) if minutes is not None else None
            conv = _conversation(
                session, customer, f"s-{i}", source=source, intent=intent, status=status,
                created_at=opened, first_response_at=answered,
            )  # fmt: skip
            if outcome:
                kind, value = outcome
                session.add(
                    Outcome(
                        conversation_id=conv.id or 0, customer_id=customer,
                        kind=OutcomeKind(kind), value=Decimal(value) if value else None,
                        currency="EUR" if value else None, staff_slack_id="U1",
                        created_at=opened + timedelta(hours=1),
                    )
                )  # fmt: skip


def _by(rows: list[Any], attribute: str) -> dict[str, int]:
    return dict(Counter(str(getattr(row, attribute)) for row in rows))


def test_stats_match_a_straightforward_recomputation(pipeline: Pipeline) -> None:
    _seed_stats(pipeline.engine)
    for days in (7, 30):
        with session_scope(pipeline.engine) as session:
            convs = session.exec(select(Conversation)).all()
            outcomes = session.exec(select(Outcome)).all()
            got = period_stats(session, days, utcnow())
        since = utcnow() - timedelta(days=days)
        new = [c for c in convs if c.created_at >= since]
        posted = [c for c in new if c.status != ConversationStatus.SUPPRESSED]
        waits = [(c.first_response_at - c.created_at) for c in posted if c.first_response_at]
        in_period = [o for o in outcomes if o.created_at >= since]
        sales = sum((o.value or 0 for o in in_period if o.kind == OutcomeKind.SALE), Decimal(0))
        assert got.total == len(new)
        assert (dict(got.by_network), dict(got.by_intent)) == (
            _by(new, "source"),
            _by(new, "intent"),
        )
        assert (got.answerable, got.replied) == (len(posted), len(waits))
        assert got.median_first_response == statistics.median(waits)
        assert (dict(got.outcomes), dict(got.sale_value)) == (
            _by(in_period, "kind"),
            {"EUR": sales},
        )
        answer = shown(ask(pipeline, f"stats {days}d"))
        assert f"*New conversations:* {len(new)}" in answer
        percent = round(100 * len(waits) / len(posted))
        assert f"*Replied:* {percent}% ({len(waits)} of {len(posted)} posted)" in answer
        assert f"*Sales:* {sales:.2f} EUR" in answer
    week = shown(ask(pipeline, "stats"))
    assert "*Last 7 days*" in week and "Mastodon 2" in week
    assert "*Median first response:* 40 min" in week


# ------------------------------------------------------------------ roles
def test_roles_come_from_config_and_the_staff_table(sqlite_engine: Engine) -> None:
    team = team_config(staff={"admins": ["UCONFADMIN"]}, managers=[{"slack_id": "UMANAGER"}])
    with session_scope(sqlite_engine, write=True) as session:
        session.add(Staff(slack_user_id="UROWADMIN", role=StaffRole.ADMIN))
        session.add(Staff(slack_user_id="UMANAGER", role=StaffRole.AGENT))
        session.flush()
        assert role_of(session, team, "UCONFADMIN") == StaffRole.ADMIN
        assert role_of(session, team, "UROWADMIN") == StaffRole.ADMIN
        assert role_of(session, team, "UMANAGER") == StaffRole.MANAGER  # the higher one wins
        assert role_of(session, team, "USOMEONE") == StaffRole.AGENT


# ------------------------------------------------------------------ forget
ZUZANA = {
    "handle": "@zuzana_secret",
    "name": "Zuzana Secretová",
    "email": "zuzana@secret.example",
    "url": "https://mastodon.example/@zuzana_secret",
    "followers": 5000,
}
NEEDLES = ("zuzana", "Secretová", "ZZSECRET")


def _zuzana_everywhere(pipe: Pipeline) -> tuple[int, int]:
    """A customer on two networks, with thread replies, a long message, a reply in someone
    else's thread, a notice, a draft, an outcome note and notes. Returns (customer, other)."""
    first = post(
        pipe, "z-1", "ZZSECRET1 your app is broken and crashes, terrible!", author="za",
        thread_id="z-thread", **ZUZANA,
    )  # fmt: skip
    post(pipe, "z-2", "ZZSECRET2 still broken", author="za", thread_id="z-thread", **ZUZANA)
    long_text = "ZZSECRET3 " + "a long story " * 300
    second = post(
        pipe, "z-3", long_text, author="zd", source="discord", handle="zuzana_disc",
        email="zuzana@secret.example",
    )  # fmt: skip
    other = post(pipe, "o-1", "Do you ship to Brno?", author="olga", name="Olga Other")
    post(pipe, "z-4", "ZZSECRET4 me too", author="za", thread_id="o-1", **ZUZANA)
    card = next(p for p in pipe.fake.all_posts() if "ZZSECRET1" in json.dumps(p))
    pipe.slack.block_action(
        "conversation.draft", str(first), user_id="U1", channel_id=card["channel"]
    )
    wait_for(lambda: _draft_posted(pipe))
    with session_scope(pipe.engine, write=True) as session:
        add_note(session, first, "UAGENT", "ZZSECRET7 staff note", "C9:9.9", utcnow())
        log_outcome(
            session, second, "UAGENT",
            OutcomeInput(kind="sale", value=Decimal("50"), currency="EUR", note="ZZSECRET5 note"),
            utcnow(),
        )  # fmt: skip
        customer = session.get(Customer, customer_of(pipe, first))
        assert customer is not None and customer.id == customer_of(pipe, second)
        customer.notes, customer.segment = "ZZSECRET6 private notes", "vip"
        session.add(customer)
    return customer.id or 0, customer_of(pipe, other)


def _draft_posted(pipe: Pipeline) -> bool:
    from storage.models import Draft

    with session_scope(pipe.engine) as session:
        return (
            session.exec(select(Draft).where(col(Draft.slack_ts).is_not(None))).first() is not None
        )


def _every_value(engine: Engine) -> Iterator[tuple[str, str, str]]:
    """(table, column, value as text) for every column of every table, search tables too."""
    with engine.connect() as conn:
        for table in inspect(conn).get_table_names():
            for row in conn.execute(text(f'SELECT * FROM "{table}"')).mappings():
                for column, value in row.items():
                    if isinstance(value, bytes):
                        value = value.decode("utf-8", "ignore")
                    elif not isinstance(value, str):
                        value = json.dumps(value, ensure_ascii=False, default=str)
                    yield table, column, value


def _leftovers(texts: Iterator[tuple[str, str, str]] | list[tuple[str, str, str]]) -> list[Any]:
    return [
        (where, column, needle)
        for where, column, value in texts
        for needle in NEEDLES
        if needle.lower() in value.lower()
    ]


def _slack_texts(pipe: Pipeline) -> list[tuple[str, str, str]]:
    posts = [("post", p["ts"], json.dumps(p, ensure_ascii=False)) for p in pipe.fake.all_posts()]
    for channel in pipe.channel_ids.values():
        for message in pipe.fake.messages(channel, include_replies=True):
            posts.append((channel, message["ts"], json.dumps(message, ensure_ascii=False)))
    return posts


def test_forget_by_an_admin_leaves_no_trace(admin_pipeline: Pipeline) -> None:
    pipe = admin_pipeline
    customer, other = _zuzana_everywhere(pipe)
    assert _leftovers(_every_value(pipe.engine)) and _leftovers(_slack_texts(pipe))  # seeded
    with session_scope(pipe.engine) as session:
        counts_before = [
            len(session.exec(select(model)).all())
            for model in (Conversation, Message, Identity, Outcome)
        ]
    answer = ask(pipe, "forget @zuzana_secret", user=ADMIN)["text"]
    assert f"Customer #{customer} is erased" in answer and "zuzana" not in answer.lower()
    with session_scope(pipe.engine) as session:
        queued = session.exec(
            select(OutboxItem.kind, OutboxItem.payload).where(
                col(OutboxItem.idempotency_key).startswith(f"erase:{customer}:")
            )
        ).all()
        erased = session.exec(
            select(AuditEvent).where(AuditEvent.action == "customer.erased")
        ).one()
        counts_after = [
            len(session.exec(select(model)).all())
            for model in (Conversation, Message, Identity, Outcome)
        ]
        sale = session.exec(select(Outcome)).one()
    kinds = sorted(kind for kind, _ in queued)
    # two cards re-rendered; erased: the thread copy, the reply in Olga's thread, the long
    # message's full-text follow-up, the draft and the notice in #product
    assert kinds == ["slack_card_update"] * 2 + ["slack_erase"] * 5, kinds
    assert all(payload["conversation_id"] for _, payload in queued)
    assert (erased.actor, erased.customer_id, erased.detail["messages"]) == (ADMIN, customer, 5)
    assert counts_after == counts_before  # anonymous counts stay
    assert (sale.kind, sale.value, sale.note) == (OutcomeKind.SALE, Decimal("50.00"), None)
    pipe.drain()
    assert _leftovers(_every_value(pipe.engine)) == []
    assert _leftovers(_slack_texts(pipe)) == []
    assert "[erased]" in json.dumps(pipe.fake.all_posts())
    assert "Olga Other" in json.dumps(pipe.fake.all_posts(), ensure_ascii=False)
    if pipe.engine.dialect.name == "sqlite":
        with pipe.engine.connect() as conn:
            stale = conn.execute(
                text("SELECT rowid FROM message_fts WHERE message_fts MATCH 'ZZSECRET'")
            )
            assert stale.all() == []
    assert "No customer matches" in ask(pipe, "lookup @zuzana_secret")["text"]
    assert "Nothing found" in ask(pipe, "find ZZSECRET")["text"]
    assert "Olga Other" in shown(ask(pipe, "lookup Olga"))
    assert customer_of(pipe, post(pipe, "z-5", "hello again", author="za", **ZUZANA)) != customer
    assert other != customer


def _snapshot(engine: Engine) -> list[tuple[str, str, str]]:
    return sorted(_every_value(engine))


def test_forget_by_a_non_admin_is_refused_and_changes_nothing(admin_pipeline: Pipeline) -> None:
    pipe = admin_pipeline
    post(pipe, "z-1", "ZZSECRET1 your app is broken, terrible!", author="za", **ZUZANA)
    before, posts = _snapshot(pipe.engine), _slack_texts(pipe)
    answer = ask(pipe, "forget @zuzana_secret", user="UAGENT")["text"]
    assert "Sorry, only admins can erase" in answer
    assert _snapshot(pipe.engine) == before
    assert _slack_texts(pipe) == posts


def test_forget_needs_exactly_one_customer(admin_pipeline: Pipeline) -> None:
    with session_scope(admin_pipeline.engine, write=True) as session:
        _customers(session, ["Eva One", "Eva Two"])
    assert "matches 2 customers" in ask(admin_pipeline, "forget Eva", user=ADMIN)["text"]
    assert "No customer matches" in ask(admin_pipeline, "forget @nobody", user=ADMIN)["text"]
    with session_scope(admin_pipeline.engine) as session:
        assert (
            session.exec(select(Customer).where(col(Customer.erased_at).is_not(None))).all() == []
        )
