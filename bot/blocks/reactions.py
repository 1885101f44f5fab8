"""The nudge shown when someone reacts ✅ on a card: a button into the outcome modal
(a reaction carries no trigger_id, so the modal itself cannot open from it)."""

from __future__ import annotations

from typing import Any


def outcome_prompt(conversation_id: int) -> dict[str, Any]:
    text = "✅ Ready to close this one? Log the outcome so the customer's record stays right."
    return {
        "text": text,
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": text}},
            {
                "type": "actions",
                "block_id": f"conversation:{conversation_id}",
                "elements": [
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": "Log outcome"},
                        "action_id": "conversation.outcome",
                        "value": str(conversation_id),
                        "style": "primary",
                    }
                ],
            },
        ],
    }
