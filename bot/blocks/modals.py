"""Modals: editing a draft reply and logging a conversation's outcome, plus the parsers of
their submissions. Pure: data in, view dict (or parsed form and inline errors) out.

Text in `plain_text` objects and `plain_text_input` values is shown literally by Slack (no
mentions, no links), so it is clipped but not escaped; text in mrkdwn goes through `escape`.
Parsers return `(result, errors)` where `errors` maps block_id → message, ready for
`{"response_action": "errors", "errors": errors}`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from bot.blocks.card import NETWORKS
from bot.blocks.card_parts import OUTCOMES, context, plain, section
from bot.blocks.mrkdwn import graphemes, truncate

CALLBACK_EDIT_DRAFT = "draft.edit_submit"
CALLBACK_OUTCOME = "outcome.submit"

# block_id / action_id of the inputs; the parsers read the same constants.
EDIT_BLOCK = "draft_text"
EDIT_ACTION = "text"
OUTCOME_BLOCK = "outcome"
AMOUNT_BLOCK = "amount"
CURRENCY_BLOCK = "currency"
STAGE_BLOCK = "stage"
NOTE_BLOCK = "note"
FORM_ACTION = "value"

TITLE_LIMIT = 24
PLAIN_INPUT_LIMIT = 3000  # Slack's maximum for a plain_text_input value
NOTE_LIMIT = 3000
AMOUNT_INPUT_LIMIT = 40
HINT_LIMIT = 2000
LABEL_LIMIT = 2000
PLACEHOLDER_LIMIT = 150
OPTION_TEXT_LIMIT = 75
NAME_LIMIT = 150
MAX_AMOUNT = Decimal(10) ** 10

CURRENCIES = ("EUR", "USD", "GBP", "CZK", "CHF", "PLN", "INR", "CNY", "IRR", "JPY", "CAD", "AUD")
STAGES = {"lead": "Lead", "prospect": "Prospect", "customer": "Customer", "churned": "Churned"}
# Currency written in the amount ("€120", "120 Kč", "120 usd"). "$" and "¥" are shared by
# several currencies: they mean the selected one when it is among them, else USD / JPY.
CURRENCY_SIGNS = {
    "€": "EUR",
    "£": "GBP",
    "₹": "INR",
    "Kč": "CZK",
    "zł": "PLN",
    "﷼": "IRR",
    "US$": "USD",
    "C$": "CAD",
    "CA$": "CAD",
    "A$": "AUD",
    "AU$": "AUD",
}
SHARED_SIGNS = {"$": ("USD", "CAD", "AUD"), "¥": ("JPY", "CNY")}

ERR_OUTCOME = "Choose an outcome"
ERR_NUMBER = "Enter a number, e.g. 120.50 or 1 200,50"
ERR_NEGATIVE = "The amount can't be negative (log a refund as a positive amount)"
ERR_DECIMALS = "Use at most 2 decimals"
ERR_TOO_LARGE = "That amount is too large"
ERR_NO_CURRENCY = "Choose the currency of the amount"
ERR_STAGE = "Choose a stage from the list"
ERR_NOTE = f"Keep the note under {NOTE_LIMIT:,} characters"
ERR_EMPTY_REPLY = "The reply can't be empty"

_SPACES = str.maketrans(dict.fromkeys("\u00a0\u202f\u2007\u2009\u3000", " "))
# An optional currency/sign before, the number, an optional currency after.
_AMOUNT = re.compile(r"(?P<pre>\D*?)(?P<num>[\d.,](?:[\d., ]*[\d.,])?)(?P<post>\D*)")
_CODE = re.compile(r"[A-Z]{3}")
_LETTERS = re.compile(r"[A-Za-z]{3}")
_GROUP_HEAD = re.compile(r"[1-9]\d{0,2}")


@dataclass(frozen=True)
class OutcomeForm:
    kind: str  # one of OUTCOMES
    value: Decimal | None  # None when no amount was given
    currency: str | None  # ISO 4217 code; None when there is no amount
    stage: str | None  # one of STAGES, None to leave the customer's stage as it is
    note: str | None


# ------------------------------------------------------------------ view pieces
def _option(value: str, label: str) -> dict[str, Any]:
    return {"text": plain(label, OPTION_TEXT_LIMIT), "value": value}


def _static_select(
    options: list[dict[str, Any]], placeholder: str, initial: str | None = None
) -> dict[str, Any]:
    select: dict[str, Any] = {
        "type": "static_select",
        "action_id": FORM_ACTION,
        "placeholder": plain(placeholder, PLACEHOLDER_LIMIT),
        "options": options,
    }
    chosen = next((o for o in options if o["value"] == initial), None)
    if chosen is not None:
        select["initial_option"] = chosen
    return select


def _input(
    block_id: str,
    label: str,
    element: dict[str, Any],
    *,
    optional: bool = False,
    hint: str | None = None,
) -> dict[str, Any]:
    block: dict[str, Any] = {
        "type": "input",
        "block_id": block_id,
        "label": plain(label, LABEL_LIMIT),
        "element": element,
        "optional": optional,
    }
    if hint:
        block["hint"] = plain(hint, HINT_LIMIT)
    return block


def _modal(
    callback_id: str, title: str, metadata: dict[str, Any], blocks: list[dict[str, Any]]
) -> dict[str, Any]:
    return {
        "type": "modal",
        "callback_id": callback_id,
        "title": plain(title, TITLE_LIMIT),
        "submit": plain("Save", TITLE_LIMIT),
        "close": plain("Cancel", TITLE_LIMIT),
        "private_metadata": json.dumps(metadata, separators=(",", ":")),
        "blocks": blocks,
    }


def _cut_plain(text: str, limit: int) -> tuple[str, bool]:
    """`text` cut to `limit` characters on a grapheme boundary, without an ellipsis (the
    editor must not save a "…" the drafter never wrote)."""
    if len(text) <= limit:
        return text, False
    kept, used = [], 0
    for cluster in graphemes(text):
        if used + len(cluster) > limit:
            break
        kept.append(cluster)
        used += len(cluster)
    return "".join(kept), True


# ------------------------------------------------------------------ edit a draft
def edit_draft_modal(
    draft_id: int, conversation_id: int, text: str, network: str, max_chars: int | None
) -> dict[str, Any]:
    """The draft in an editable text box; submitting it fires `draft.edit_submit`."""
    # A source key ("mastodon") is shown by its display name; a display name stays as it is.
    where = NETWORKS.get(network.strip()) or " ".join(network.split()) or "the customer's network"
    initial, cut = _cut_plain(text, PLAIN_INPUT_LIMIT)
    element: dict[str, Any] = {
        "type": "plain_text_input",
        "action_id": EDIT_ACTION,
        "multiline": True,
        "max_length": PLAIN_INPUT_LIMIT,
    }
    if initial:
        element["initial_value"] = initial
    if max_chars is not None:
        hint = f"{where} allows up to {max_chars:,} characters. The customer sees this text as is."
    else:
        hint = f"Sent to the customer on {where} exactly as written."
    blocks = [_input(EDIT_BLOCK, "Reply to the customer", element, hint=hint)]
    if cut:
        blocks.insert(
            0,
            context(
                f"⚠️ The draft is longer than {PLAIN_INPUT_LIMIT:,} characters: only the first "
                f"{PLAIN_INPUT_LIMIT:,} are here, and saving keeps only what is here."
            ),
        )
    metadata = {"draft_id": draft_id, "conversation_id": conversation_id}
    return _modal(CALLBACK_EDIT_DRAFT, "Edit reply", metadata, blocks)


def _value(state_values: dict[str, Any], block_id: str, action_id: str) -> str | None:
    """The submitted value of one input: a plain_text_input's `value` or a select's
    `selected_option.value`; None when Slack left it out (optional and empty)."""
    block = state_values.get(block_id)
    state = block.get(action_id) if isinstance(block, dict) else None
    if not isinstance(state, dict):
        return None
    if "selected_option" in state:
        option = state.get("selected_option")
        value = option.get("value") if isinstance(option, dict) else None
    else:
        value = state.get("value")
    return value if isinstance(value, str) else None


def parse_edit_submission(state_values: dict[str, Any]) -> tuple[str | None, dict[str, str]]:
    """The edited reply (surrounding blank lines removed), or the inline error."""
    text = (_value(state_values, EDIT_BLOCK, EDIT_ACTION) or "").strip()
    if not text:
        return None, {EDIT_BLOCK: ERR_EMPTY_REPLY}
    return text, {}


# ------------------------------------------------------------------ log an outcome
def _currency_options(default_currency: str) -> tuple[list[dict[str, Any]], str | None]:
    code = default_currency.strip().upper()
    codes = list(CURRENCIES)
    if _CODE.fullmatch(code) and code not in codes:
        codes.insert(0, code)  # a configured currency we do not list still shows as chosen
    return [_option(c, c) for c in codes], code if code in codes else None


def outcome_modal(
    conversation_id: int,
    customer_name: str | None,
    lifecycle_stage: str | None,
    default_currency: str = "EUR",
) -> dict[str, Any]:
    """Outcome, optional value and currency, lifecycle stage and note; fires `outcome.submit`."""
    name = (customer_name or "").strip()
    intro = (
        f"Logging the outcome for *{truncate(name, NAME_LIMIT)[0]}*."
        if name
        else "Logging the outcome of this conversation."
    )
    currencies, initial_currency = _currency_options(default_currency)
    blocks = [
        section(intro),
        _input(
            OUTCOME_BLOCK,
            "Outcome",
            _static_select(
                [_option(k, label) for k, label in OUTCOMES.items()], "Choose an outcome"
            ),
        ),
        _input(
            AMOUNT_BLOCK,
            "Value",
            {
                "type": "plain_text_input",
                "action_id": FORM_ACTION,
                "placeholder": plain("e.g. 120.50", PLACEHOLDER_LIMIT),
                "max_length": AMOUNT_INPUT_LIMIT,
            },
            optional=True,
            hint="For a sale or a refund. 1 200,50 and 1,200.50 both work.",
        ),
        _input(
            CURRENCY_BLOCK,
            "Currency",
            _static_select(currencies, "Currency", initial_currency),
            optional=True,
        ),
        _input(
            STAGE_BLOCK,
            "Lifecycle stage",
            _static_select(
                [_option(k, label) for k, label in STAGES.items()],
                "Leave as it is",
                (lifecycle_stage or "").strip().lower() or None,
            ),
            optional=True,
        ),
        _input(
            NOTE_BLOCK,
            "Note",
            {
                "type": "plain_text_input",
                "action_id": FORM_ACTION,
                "multiline": True,
                "max_length": NOTE_LIMIT,
                "placeholder": plain("Internal: what happened?", PLACEHOLDER_LIMIT),
            },
            optional=True,
        ),
    ]
    return _modal(CALLBACK_OUTCOME, "Log outcome", {"conversation_id": conversation_id}, blocks)


def _is_grouped(head: str, groups: list[str]) -> bool:
    """Thousands grouping: 1-3 digits (no leading zero), then groups of exactly 3."""
    return bool(_GROUP_HEAD.fullmatch(head)) and all(len(g) == 3 and g.isdigit() for g in groups)


def _parse_number(num: str) -> Decimal | str:
    """A non-negative number written with `.` or `,` as the decimal separator and `,`, `.` or
    spaces between thousands; an error message when it is not one."""
    dots, commas = num.count("."), num.count(",")
    if dots and commas:  # both: the last one is the decimal separator
        dec = "." if num.rfind(".") > num.rfind(",") else ","
        if num.count(dec) > 1:
            return ERR_NUMBER
    elif dots + commas == 1:
        dec = "." if dots else ","
        head, tail = num.split(dec)
        if len(tail) == 3 and " " not in head and _GROUP_HEAD.fullmatch(head):
            # "1,200" is 1200 in English and 1.2 in Czech: money rarely has 3 decimals, but
            # guessing wrong is a factor of 1000, so ask.
            return f"Use at most 2 decimals (for {head}{tail}, write it without a separator)"
    else:  # none, or the same one several times: thousands only
        dec = ""
    whole, _, frac = num.partition(dec) if dec else (num, "", "")
    if not frac.isdigit() and frac:
        return ERR_NUMBER
    parts = re.split(r"[ .,]", whole)
    if len(parts) > 1:
        if not _is_grouped(parts[0], parts[1:]):
            return ERR_NUMBER
    elif whole and not whole.isdigit():
        return ERR_NUMBER
    digits = "".join(parts)
    if not digits and not frac:
        return ERR_NUMBER
    if len(frac) > 2:
        return ERR_DECIMALS
    try:
        value = Decimal(f"{digits or '0'}.{frac}" if frac else digits)
    except InvalidOperation:  # pragma: no cover - the checks above admit digits only
        return ERR_NUMBER
    return ERR_TOO_LARGE if value > MAX_AMOUNT else value


def _currency_in(token: str, selected: str | None) -> str | None:
    """The ISO code a currency sign or code stands for; None when unknown."""
    if token in CURRENCY_SIGNS:
        return CURRENCY_SIGNS[token]
    if token in SHARED_SIGNS:
        choices = SHARED_SIGNS[token]
        return selected if selected in choices else choices[0]
    code = token.upper()
    if code in CURRENCIES or (code == selected and _CODE.fullmatch(code)):
        return code
    return None


def parse_amount(raw: str, selected_currency: str | None) -> tuple[Decimal, str | None] | str:
    """`(value, currency)` from what was typed in the Value box, or an error message.

    Accepts "120", "120.5", "1 200,50", "1,200.50", "1.200,50", and a currency sign or code
    before or after ("€120", "120 CZK"); without one, the selected currency applies.
    """
    text = raw.translate(_SPACES).strip()
    match = _AMOUNT.fullmatch(text)
    if match is None:
        return ERR_NUMBER
    pre, post = match["pre"].strip(), match["post"].strip()
    if "-" in pre or "−" in pre:
        return ERR_NEGATIVE
    pre = pre.replace("+", "", 1).strip()
    if pre and post:
        return ERR_NUMBER
    number = _parse_number(match["num"].strip())
    if isinstance(number, str):
        return number
    token = pre or post
    if any(sign in token for sign in "+-−"):
        return ERR_NUMBER
    if not token:
        return number, selected_currency
    if token not in CURRENCY_SIGNS and token not in SHARED_SIGNS and not _LETTERS.fullmatch(token):
        return ERR_NUMBER  # "12 apples"
    currency = _currency_in(token, selected_currency)
    if currency is None:
        return f"Unknown currency “{token[:10]}”: choose it under Currency instead"
    return number, currency


def parse_outcome_submission(
    state_values: dict[str, Any],
) -> tuple[OutcomeForm | None, dict[str, str]]:
    """The outcome form from `view.state.values`, or inline errors by block_id."""
    errors: dict[str, str] = {}
    kind = _value(state_values, OUTCOME_BLOCK, FORM_ACTION)
    if kind not in OUTCOMES:
        errors[OUTCOME_BLOCK] = ERR_OUTCOME
    selected = (_value(state_values, CURRENCY_BLOCK, FORM_ACTION) or "").strip().upper() or None
    if selected is not None and not _CODE.fullmatch(selected):
        selected = None
    value: Decimal | None = None
    currency: str | None = None
    raw_amount = (_value(state_values, AMOUNT_BLOCK, FORM_ACTION) or "").strip()
    if raw_amount:
        parsed = parse_amount(raw_amount, selected)
        if isinstance(parsed, str):
            errors[AMOUNT_BLOCK] = parsed
        else:
            value, currency = parsed
            if currency is None:
                errors[CURRENCY_BLOCK] = ERR_NO_CURRENCY
    stage = _value(state_values, STAGE_BLOCK, FORM_ACTION)
    if stage is not None and stage not in STAGES:
        errors[STAGE_BLOCK] = ERR_STAGE
    note = (_value(state_values, NOTE_BLOCK, FORM_ACTION) or "").strip() or None
    if note is not None and len(note) > NOTE_LIMIT:
        errors[NOTE_BLOCK] = ERR_NOTE
    if errors or kind is None:
        return None, errors
    return OutcomeForm(kind=kind, value=value, currency=currency, stage=stage, note=note), {}
