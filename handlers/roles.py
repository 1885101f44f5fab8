"""Who may do what: a staff member's role, from the config and the Staff table.

`team.staff.admins` and Staff rows with role admin are admins; `team.managers` are managers;
a Staff row may give anyone a role; everyone else is an agent. The highest role wins, so a
manager listed in the config stays a manager even when a Staff row says agent.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from bot.config_schema import TeamConfig
from handlers.conversation_actions import ActionError
from storage.models import AuditEvent, Staff, StaffRole

_RANK = {StaffRole.AGENT: 0, StaffRole.MANAGER: 1, StaffRole.ADMIN: 2}
_PLURAL = {StaffRole.AGENT: "agents", StaffRole.MANAGER: "managers", StaffRole.ADMIN: "admins"}


def role_of(session: Session, team: TeamConfig, user_id: str) -> StaffRole:
    """The caller's role: the highest of what the config and the Staff table say."""
    role = StaffRole.AGENT
    if user_id in team.staff.admins:
        role = StaffRole.ADMIN
    elif any(manager.slack_id == user_id for manager in team.managers):
        role = StaffRole.MANAGER
    row = session.get(Staff, user_id)
    if row is not None:
        try:
            stored = StaffRole(row.role)
        except ValueError:  # an unknown role in the table grants nothing
            stored = StaffRole.AGENT
        if _RANK[stored] > _RANK[role]:
            role = stored
    return role


def require(role: StaffRole, *allowed: StaffRole, action: str = "do that") -> None:
    """Refuse politely unless `role` is one of `allowed` (an admin may always)."""
    if role == StaffRole.ADMIN or role in allowed:
        return
    who = " and ".join(_PLURAL[r] for r in sorted(set(allowed), key=_RANK.__getitem__))
    raise ActionError(
        f"Sorry, only {who or 'admins'} can {action}. "
        "Ask an admin of this workspace (listed under [staff] admins in threadline.toml)."
    )


def set_role(
    session: Session, team: TeamConfig, actor: str, target: str, role: StaffRole, now: datetime
) -> StaffRole:
    """An admin gives `target` a role (a Staff row). Config roles still apply on top: the
    highest wins, so this cannot demote someone threadline.toml names."""
    require(role_of(session, team, actor), StaffRole.ADMIN, action="change roles")
    row = session.get(Staff, target) or Staff(slack_user_id=target, created_at=now)
    previous = row.role if row.created_at != now else None
    row.role, row.updated_at = role, now
    session.add(row)
    session.add(
        AuditEvent(
            actor=actor,
            action="staff.role_set",
            at=now,
            detail={"user": target, "role": str(role), "previous": previous},
        )
    )
    return role_of(session, team, target)
