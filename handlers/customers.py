"""One customer record across networks: identities, emails, and merging two records."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update
from sqlmodel import Session, select

from handlers.inbound import Author
from storage.models import (
    AuditEvent,
    Conversation,
    Customer,
    CustomerEmail,
    Identity,
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
