"""Roles through /crm: admins set them, others are refused politely, the config still wins."""

from __future__ import annotations

from sqlalchemy.engine import Engine
from sqlmodel import select

from handlers.roles import role_of
from storage.db import session_scope
from storage.models import AuditEvent, Staff, StaffRole
from tests.fakes.slack import FakeSlack
from tests.pipeline import Pipeline, team_config


def pipeline_with(engine: Engine, fake: FakeSlack) -> Pipeline:
    team = team_config(staff={"admins": ["UADMIN"]}, managers=[{"slack_id": "UBOSS"}])
    return Pipeline(engine, fake, team)


def test_an_admin_sets_a_role_and_it_is_audited(engine: Engine, fake_slack: FakeSlack) -> None:
    pipe = pipeline_with(engine, fake_slack)
    try:
        answer = pipe.slack.slash_command("/crm", "role <@UNEW1|nina> manager", user_id="UADMIN")
        assert "UNEW1 is now manager" in answer.json()["text"]
        with session_scope(engine) as session:
            assert role_of(session, pipe.team, "UNEW1") == StaffRole.MANAGER
            event = session.exec(select(AuditEvent).where(AuditEvent.action == "staff.role_set"))
            assert event.one().detail["user"] == "UNEW1"
    finally:
        pipe.stop()


def test_non_admins_are_refused_and_nothing_changes(engine: Engine, fake_slack: FakeSlack) -> None:
    pipe = pipeline_with(engine, fake_slack)
    try:
        answer = pipe.slack.slash_command("/crm", "role UAGENT1 admin", user_id="UBOSS")
    finally:
        pipe.stop()
    assert "only admins can change roles" in answer.json()["text"]
    with session_scope(engine) as session:
        assert session.exec(select(Staff)).all() == []


def test_the_config_keeps_its_roles(engine: Engine, fake_slack: FakeSlack) -> None:
    pipe = pipeline_with(engine, fake_slack)
    try:
        answer = pipe.slack.slash_command("/crm", "role UBOSS agent", user_id="UADMIN")
    finally:
        pipe.stop()
    assert "threadline.toml keeps them manager" in answer.json()["text"]


def test_bad_arguments_answer_with_help(engine: Engine, fake_slack: FakeSlack) -> None:
    pipe = pipeline_with(engine, fake_slack)
    try:
        for text in ("role", "role nobody manager", "role UX1 overlord", "role UX1"):
            answer = pipe.slack.slash_command("/crm", text, user_id="UADMIN")
            assert answer.status == 200
            assert "member ID" in answer.json()["text"], text
    finally:
        pipe.stop()
