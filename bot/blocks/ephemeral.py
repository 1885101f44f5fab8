"""Short answers only the person who clicked sees (chat.postEphemeral or a response_url).

Each returns {"text", "blocks"}; add `response_type`/`replace_original` when answering through a
response_url. The only mentions are Slack user ids that came from Slack; anything else passed
as a user is shown escaped.
"""

from __future__ import annotations

from typing import Any, Literal

from bot.blocks.card_parts import button, confirm_dialog, mention, section
from bot.blocks.mrkdwn import truncate

ACTION_TAKEOVER = "conversation.takeover"
ACTION_DRAFT_ANYWAY = "conversation.draft_anyway"
ACTION_SEND_ANYWAY = "draft.send_anyway"
ERROR_ID_LIMIT = 64


def _message(text: str, *actions: dict[str, Any], block_id: str | None = None) -> dict[str, Any]:
    """`text` (safe mrkdwn) as both the fallback and a section, with optional buttons."""
    blocks: list[dict[str, Any]] = [section(text)]
    if actions:
        block: dict[str, Any] = {"type": "actions", "elements": list(actions)}
        if block_id:
            block["block_id"] = block_id
        blocks.append(block)
    return {"text": text, "blocks": blocks}


def _takeover_button(conversation_id: int) -> dict[str, Any]:
    confirm = confirm_dialog(
        "Take over?",
        "You become the owner of this conversation; the current owner can no longer send.",
        "Take over",
    )
    return button("Take over", ACTION_TAKEOVER, str(conversation_id), confirm=confirm)


def already_claimed(conversation_id: int, assignee: str) -> dict[str, Any]:
    """Someone clicked Claim on a conversation another person claimed first."""
    return _message(
        f"Already claimed by {mention(assignee)}.",
        _takeover_button(conversation_id),
        block_id=f"takeover:{conversation_id}",
    )


def only_assignee_can_send(assignee: str, conversation_id: int) -> dict[str, Any]:
    """Someone other than the assignee clicked Send."""
    return _message(
        f"Only {mention(assignee)}, who claimed this conversation, can send. Take it over first.",
        _takeover_button(conversation_id),
        block_id=f"takeover:{conversation_id}",
    )


def drafting_collision(
    target_id: int, drafting_by: str, action: Literal["draft", "send"]
) -> dict[str, Any]:
    """Someone else is drafting right now. `target_id` is the conversation id for "draft" and
    the draft id for "send" (it becomes the button's value)."""
    if action == "send":
        proceed = button("Send anyway", ACTION_SEND_ANYWAY, str(target_id))
    else:
        proceed = button("Draft anyway", ACTION_DRAFT_ANYWAY, str(target_id))
    return _message(
        f"✍️ {mention(drafting_by)} is drafting a reply right now.",
        proceed,
        block_id=f"collision:{'send' if action == 'send' else 'draft'}:{target_id}",
    )


def action_failed(error_id: str) -> dict[str, Any]:
    """An action hit an unexpected error; `error_id` is what the logs carry."""
    shown = truncate(error_id.strip() or "unknown", ERROR_ID_LIMIT)[0]
    return _message(
        f"Something went wrong (error `{shown}`). Nothing was lost; try again, and if it keeps "
        "happening give this id to your admin."
    )
