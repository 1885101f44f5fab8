"""One customer record across networks: identities, emails, and merging two records."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, Table, bindparam, func, insert, update
from sqlalchemy.engine import Connection
from sqlmodel import Session, select

from handlers.inbound import Author
from storage.models import (
    AuditEvent,
    Conversation,
    Customer,
    CustomerEmail,
    Identity,
    LifecycleStage,
    Outcome,
)


def upsert_identity(session: Session, source: str, author: Author, now: datetime) -> Identity:
    """Find or create the author's identity (and its customer), refreshing what changed.

    An email links the identity to the customer who already owns that address, merging two
    records when the identity already belonged to someone else.
    """
    identity = session.exec(
        select(Identity).where(
            Identity.source == source, Identity.external_id == author.external_id
        )
    ).first()
    email = author.email.strip().lower() if author.email else None
    owner = _customer_by_email(session, email) if email else None
    if identity is None:
        customer_id = owner if owner is not None else _new_customer(session, author, now)
        identity = Identity(customer_id=customer_id, source=source, external_id=author.external_id)
    elif owner is not None and owner != identity.customer_id:
        identity.customer_id = merge_customers(
            session, keep=owner, merge=identity.customer_id, actor="system", now=now
        )
    _refresh(identity, author, now)
    session.add(identity)
    if email and owner is None:
        session.add(CustomerEmail(customer_id=identity.customer_id, email=email))
    session.flush()
    return identity


def _refresh(identity: Identity, author: Author, now: datetime) -> None:
    changed = False
    for attr, value in (
        ("handle", author.handle),
        ("display_name", author.display_name),
        ("profile_url", str(author.profile_url) if author.profile_url else None),
        ("followers", author.followers),
    ):
        if value is not None and getattr(identity, attr) != value:
            setattr(identity, attr, value)
            changed = True
    if changed:
        identity.updated_at = now


def _customer_by_email(session: Session, email: str) -> int | None:
    return session.exec(
        select(CustomerEmail.customer_id).where(CustomerEmail.email == email)
    ).first()


def _new_customer(session: Session, author: Author, now: datetime) -> int:
    customer = Customer(name=author.display_name or author.handle, created_at=now, updated_at=now)
    session.add(customer)
    session.flush()
    assert customer.id is not None
    return customer.id


def merge_customers(session: Session, *, keep: int, merge: int, actor: str, now: datetime) -> int:
    """Fold customer `merge` into `keep`: identities, emails, conversations and outcomes move,
    lifetime value adds up, and `merge` remains only as a pointer (so old links resolve).
    Returns the surviving id. Merging a record into itself is a no-op."""
    if keep == merge:
        return keep
    survivor = session.get(Customer, keep)
    gone = session.get(Customer, merge)
    if survivor is None or gone is None:
        raise LookupError(f"no customer {keep if survivor is None else merge}")
    for model in (Identity, CustomerEmail, Conversation, Outcome):
        session.execute(
            update(model).where(model.customer_id == merge).values(customer_id=keep)  # type: ignore[attr-defined]
        )
    session.execute(
        update(AuditEvent).where(AuditEvent.customer_id == merge).values(customer_id=keep)
    )
    survivor.lifetime_value += gone.lifetime_value
    survivor.name = survivor.name or gone.name
    survivor.segment = survivor.segment or gone.segment
    survivor.notes = "\n\n".join(n for n in (survivor.notes, gone.notes) if n) or None
    survivor.updated_at = now
    gone.merged_into_id = keep
    gone.lifetime_value = 0
    gone.updated_at = now
    session.add_all([survivor, gone])
    session.add(
        AuditEvent(
            actor=actor,
            action="customer.merged",
            customer_id=keep,
            at=now,
            detail={"merged_customer_id": merge},
        )
    )
    session.flush()
    session.expire_all()  # rows moved behind the identity map's back
    return keep


# ---------------------------------------------------------------- many authors at once
IDENTITY = Identity.__table__  # type: ignore[attr-defined]
CUSTOMER = Customer.__table__  # type: ignore[attr-defined]
CUSTOMER_EMAIL = CustomerEmail.__table__  # type: ignore[attr-defined]
_REFRESHED = ("handle", "display_name", "profile_url", "followers")
IN_CHUNK = 2_000  # keys per IN list: far below SQLite's and psycopg's parameter limits


def pair_params(keys: Iterable[tuple[str, str]]) -> Iterator[dict[str, Any]]:
    """Parameters for a prebuilt `first = :head AND second IN :tails` query, one `first`
    value at a time: that form uses the (first, second) index, where SQLite answers a
    row-value IN list with a full scan."""
    grouped: dict[str, list[str]] = defaultdict(list)
    for head, tail in sorted(set(keys)):
        grouped[head].append(tail)
    for head, tails in grouped.items():
        for start in range(0, len(tails), IN_CHUNK):
            yield {"head": head, "tails": tails[start : start + IN_CHUNK]}


def chunk_params(values: Iterable[Any], name: str = "values") -> Iterator[dict[str, Any]]:
    ordered = sorted(set(values))
    for start in range(0, len(ordered), IN_CHUNK):
        yield {name: ordered[start : start + IN_CHUNK]}


def pair_query(*columns: Any, first: Any, second: Any) -> Select[Any]:
    """Built once at import: building a statement costs more than running it on SQLite."""
    return select(*columns).where(
        first == bindparam("head"), second.in_(bindparam("tails", expanding=True))
    )


_MAX_ID: dict[str, Select[Any]] = {}


def insert_with_ids(conn: Connection, table: Table, rows: list[dict[str, Any]]) -> list[int]:
    """INSERT many rows in one round trip; their new ids, in order.

    SQLite: the ingest holds the write lock (BEGIN IMMEDIATE), so the ids SQLite would pick
    itself, max(id) + 1 onwards, are given explicitly and the rows go in one executemany
    (SQLAlchemy's ordered RETURNING falls back to a statement per row there). A stranger
    taking an id in between would break the primary key, never reuse it silently.
    PostgreSQL: multi-row INSERT … RETURNING, ordered by SQLAlchemy's sentinel."""
    if not rows:
        return []
    if len(rows) == 1:  # one statement, no ordering to keep
        return [conn.execute(insert(table).returning(table.c.id), rows[0]).scalar_one()]
    if conn.dialect.name == "sqlite":
        query = _MAX_ID.setdefault(table.name, select(func.max(table.c.id)))
        start = conn.execute(query).scalar() or 0
        ids = list(range(start + 1, start + 1 + len(rows)))
        conn.execute(insert(table), [{**r, "id": i} for r, i in zip(rows, ids, strict=True)])
        return ids
    stmt = insert(table).returning(table.c.id, sort_by_parameter_order=True)
    return list(conn.execute(stmt, rows).scalars())


_IDENTITIES = pair_query(
    *(IDENTITY.c[name] for name in ("id", "customer_id", "source", "external_id", *_REFRESHED)),
    first=IDENTITY.c.source,
    second=IDENTITY.c.external_id,
)
_OWNERS = select(CUSTOMER_EMAIL.c.email, CUSTOMER_EMAIL.c.customer_id).where(
    CUSTOMER_EMAIL.c.email.in_(bindparam("values", expanding=True))
)


@dataclass(eq=False)
class _CustomerRef:
    """One customer as the batch sees it: `id` is None until a new one is inserted."""

    id: int | None
    name: str | None = None


@dataclass(eq=False)
class _IdentityRow:
    id: int | None
    customer: _CustomerRef
    source: str
    external_id: str
    values: dict[str, Any]
    changed: bool = False
    new: bool = False


def resolve_identities(
    session: Session, authors: Sequence[tuple[str, Author]], now: datetime
) -> list[tuple[int, int]]:
    """`upsert_identity` for many (source, author) pairs in order, in a few statements:
    (identity id, customer id) for each. Later entries of one author refresh what earlier
    ones set, and an email seen earlier in `authors` links later ones, exactly as one call
    per author in turn would. It stops before the first author whose email would merge two
    customers, so the answer is shorter than `authors` then: that one needs upsert_identity.
    """
    conn = session.connection()
    customers: dict[int, _CustomerRef] = {}
    known = _load_identities(conn, {(s, a.external_id) for s, a in authors}, customers)
    owners = _load_owners(conn, {e for _, a in authors if (e := _email(a))}, customers)
    rows: list[_IdentityRow] = []
    emails: list[tuple[str, _CustomerRef]] = []
    for source, author in authors:
        row = known.get((source, author.external_id))
        email = _email(author)
        owner = owners.get(email) if email else None
        if row is None:
            customer = owner or _CustomerRef(None, author.display_name or author.handle)
            row = _IdentityRow(None, customer, source, author.external_id, {}, True, True)
            known[source, author.external_id] = row
        elif owner is not None and owner is not row.customer:
            break  # two customers become one: upsert_identity's merge does that
        _refresh_values(row, author)
        if email and owner is None:
            owners[email] = row.customer
            emails.append((email, row.customer))
        rows.append(row)
    _write_identities(conn, list(dict.fromkeys(rows)), emails, now)
    return [(r.id or 0, r.customer.id or 0) for r in rows]


def _email(author: Author) -> str | None:
    return author.email.strip().lower() if author.email else None


def _ref(customers: dict[int, _CustomerRef], customer_id: int) -> _CustomerRef:
    return customers.setdefault(customer_id, _CustomerRef(customer_id))


def _load_identities(
    conn: Connection, keys: set[tuple[str, str]], customers: dict[int, _CustomerRef]
) -> dict[tuple[str, str], _IdentityRow]:
    found: dict[tuple[str, str], _IdentityRow] = {}
    for params in pair_params(keys):
        query = conn.execute(_IDENTITIES, params)
        for ident, customer, source, ext, *values in query:
            values_by_name = dict(zip(_REFRESHED, values, strict=True))
            found[source, ext] = _IdentityRow(
                ident, _ref(customers, customer), source, ext, values_by_name
            )
    return found


def _load_owners(
    conn: Connection, emails: set[str], customers: dict[int, _CustomerRef]
) -> dict[str, _CustomerRef]:
    owners: dict[str, _CustomerRef] = {}
    for params in chunk_params(emails):
        rows = conn.execute(_OWNERS, params)
        owners.update((email, _ref(customers, cid)) for email, cid in rows)
    return owners


def _refresh_values(row: _IdentityRow, author: Author) -> None:
    for attr, value in (
        ("handle", author.handle),
        ("display_name", author.display_name),
        ("profile_url", str(author.profile_url) if author.profile_url else None),
        ("followers", author.followers),
    ):
        if value is not None and row.values.get(attr) != value:
            row.values[attr] = value
            row.changed = True


def _write_identities(
    conn: Connection,
    rows: list[_IdentityRow],
    emails: list[tuple[str, _CustomerRef]],
    now: datetime,
) -> None:
    """New customers, new identities, refreshed identities, new emails: a statement each."""
    fresh = list(dict.fromkeys(r.customer for r in rows if r.customer.id is None))
    ids = insert_with_ids(conn, CUSTOMER, [_new_customer_values(c.name, now) for c in fresh])
    for customer, customer_id in zip(fresh, ids, strict=True):
        customer.id = customer_id
    new = [r for r in rows if r.new]
    values = [
        {
            "customer_id": r.customer.id,
            "source": r.source,
            "external_id": r.external_id,
            **{c: r.values.get(c) for c in _REFRESHED},
            "created_at": now,
            "updated_at": now,
        }
        for r in new
    ]
    for row, identity_id in zip(new, insert_with_ids(conn, IDENTITY, values), strict=True):
        row.id = identity_id
    changed = [r for r in rows if r.changed and not r.new]
    if changed:
        conn.execute(
            update(IDENTITY)
            .where(IDENTITY.c.id == bindparam("b_id"))
            .values({c: bindparam(c) for c in (*_REFRESHED, "updated_at")}),
            [{"b_id": r.id, **r.values, "updated_at": now} for r in changed],
        )
    if emails:
        conn.execute(
            insert(CUSTOMER_EMAIL),
            [{"customer_id": c.id, "email": e, "created_at": now} for e, c in emails],
        )


def _new_customer_values(name: str | None, now: datetime) -> dict[str, Any]:
    return {
        "name": name,
        "lifecycle_stage": LifecycleStage.LEAD.value,
        "segment": None,
        "lifetime_value": Decimal("0"),
        "currency": None,
        "notes": None,
        "merged_into_id": None,
        "created_at": now,
        "updated_at": now,
        "erased_at": None,
    }
