"""PII masking for LLM requests: customer text leaves with placeholders, answers come back whole.

Before customer text goes to an LLM, `PiiVault.mask` replaces obvious PII with placeholders
(`[EMAIL_1]`, `[PHONE_2]`, ...); `PiiVault.restore` puts the exact original substrings back
into the model's answer. One vault serves one LLM request; `mask_all` masks a whole
conversation with one vault, so the same value gets the same placeholder in every message.

Kinds (`KINDS`):
- EMAIL      addresses, Latin letters with accents allowed in the local part and domain;
- PHONE      "+CC ..." / "00CC ..." international numbers (8-15 digits), and national
             numbers with a plausible shape: grouped ("(555) 123-4567", "0912 345 6789",
             "138 0013 8000", "98765 43210", "06 12 34 56 78") or compact with a trunk
             "0" or a Chinese mobile prefix. Dates, year ranges, numbers grouped like
             amounts ("12 500 000") and compact numbers of unknown shape count only after a
             phone cue ("tel.", "mobil", "llámame", "电话", "تلفن", "फ़ोन", ...); an order/
             invoice/tracking cue or a currency next to the number vetoes the weak shapes;
- CARD       13-19 digits (spaces/dashes allowed) passing the Luhn check, not starting with 0;
- IBAN       upper-case country code + check digits + groups, valid mod 97;
- IP         IPv4 dotted quads;
- SECRET     API keys and tokens (sk-..., xoxb-..., ghp_..., AKIA..., AIza..., JWTs, PEM
             private keys) and the value after "password:", "api_key=", "token:" ...;
- URL_TOKEN  values of sensitive URL parameters (?token=, &sig=, #access_token=, ?code= ...);
- PLACEHOLDER  text the customer wrote that already looks like a placeholder (see below).
Digits of any script (Persian ۰-۹, Arabic-Indic ٠-٩, Devanagari ०-९, full-width ０-９) count as
digits for phones and cards; the vault always stores and restores the exact original text.

Placeholder scheme: `[KIND_n]`, numbered from 1 per kind and per vault, in order of first
appearance; the key is the exact original substring, so "a@b.cz" twice is one placeholder
(and "A@b.cz" is another: restore must give back exactly what was written). `restore`
accepts what models make of a placeholder: any case, spaces or "-"/"#" instead of "_"
("[ email 1 ]", "[Email-1]", "[EMAIL1]"), full-width or CJK brackets ("【EMAIL_1】"), braces,
digits in another script ("[EMAIL_۱]"), the bare upper-case form ("EMAIL_1"), and any
punctuation or letters around it. Placeholders the vault did not issue are left alone.

Collisions: anything in the customer's text that `restore` would read as a placeholder
("[EMAIL_1]", "[phone 2]", "URL_TOKEN_3", ...) is itself vaulted as `[PLACEHOLDER_n]`, so the
masked text contains no placeholder-shaped text except the vault's own, and `restore` can't
mistake the customer's words for PII. (The token pattern has no look-arounds, so no
placeholder can form across a placeholder's edge: `restore(mask(t)) == t` for every `t`.)

Overlapping findings are merged into one placeholder (more is hidden, never less), named by
the most specific kind. A number that fails a weak-shape check is still masked when the same
string was masked elsewhere in the text or earlier in the vault ("tel. 777 123 456 ... 777
123 456"). Every regex is linear-time: bounded or disjoint repetitions only, and scans that
could restart inside a word are anchored to word starts; `mask` does no I/O and keeps no
module-level mutable state.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Final, NamedTuple

__all__ = [
    "CARD",
    "EMAIL",
    "IBAN",
    "IP",
    "KINDS",
    "PHONE",
    "PLACEHOLDER",
    "SECRET",
    "URL_TOKEN",
    "PiiVault",
    "mask_all",
]

EMAIL: Final = "EMAIL"
PHONE: Final = "PHONE"
CARD: Final = "CARD"
IBAN: Final = "IBAN"
IP: Final = "IP"
SECRET: Final = "SECRET"
URL_TOKEN: Final = "URL_TOKEN"
PLACEHOLDER: Final = "PLACEHOLDER"
KINDS: Final = (EMAIL, PHONE, CARD, IBAN, IP, SECRET, URL_TOKEN, PLACEHOLDER)

# --- placeholders -----------------------------------------------------------------------------
# One pattern for both directions: `restore` replaces its matches; `mask` vaults every match in
# the customer's text as PLACEHOLDER. No look-arounds (see the module docstring).
_KIND_ALTERNATION: Final = "|".join(
    r"[ _\-]?".join(re.escape(part) for part in kind.split("_"))
    for kind in sorted(KINDS, key=len, reverse=True)
)
_KIND_BY_LETTERS: Final = {kind.replace("_", ""): kind for kind in KINDS}
_HSPACE: Final = r"[ \t\u00a0\u3000]{0,3}"
_TOKEN_RE: Final = re.compile(
    rf"[\[［【〔{{]{_HSPACE}(?P<kind>(?ai:{_KIND_ALTERNATION}))[ _\-#\u00a0]{{0,3}}(?P<num>\d+)"
    rf"{_HSPACE}[\]］】〕}}]"
    rf"|(?P<bare_kind>{'|'.join(sorted(KINDS, key=len, reverse=True))})_(?P<bare_num>\d+)"
)


def _token_key(match: re.Match[str]) -> str:
    """The vault's key for a placeholder as the model wrote it: "[ email-01 ]" → "EMAIL_1"."""
    kind = match.group("kind") or match.group("bare_kind")
    num = _ascii_digits(match.group("num") or match.group("bare_num")).lstrip("0") or "0"
    return f"{_KIND_BY_LETTERS[re.sub(r'[ _-]', '', kind).upper()]}_{num}"


# --- digits ---------------------------------------------------------------------------------------
def _ascii_digits(text: str) -> str:
    """The decimal digits of `text` (any script) as ASCII, everything else dropped."""
    return "".join(str(unicodedata.decimal(ch)) for ch in text if ch.isdecimal())


_DIGIT_GROUP_RE: Final = re.compile(r"\d+")


def _luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


# --- number runs (phones and cards) -------------------------------------------------------------
# A run is numeric chunks joined by 1-3 separators. A chunk may carry Latin letters ("1Z999AA1",
# "CZ65") so that letter-attached numbers are seen whole and then rejected, never re-found as
# a shorter all-digit tail. Runs start only at a chunk start (look-behind), which keeps the
# scan linear; non-Latin letters (CJK, Arabic, Devanagari) may touch a number directly.
_LATIN: Final = "A-Za-zÀ-ÖØ-öø-ɏ"
_SEPARATORS: Final = " -.\u00a0\u2009\u202f\u200e\u200f"  # inside a number; also LRM/RLM
_FIRST_CHUNK: Final = rf"[+＋(]{{0,2}}[{_LATIN}]*\d[{_LATIN}\d_()]*"
_NEXT_CHUNK: Final = rf"\(?[{_LATIN}]*\d[{_LATIN}\d_()]*"  # a "+" starts a new number
_RUN_RE: Final = re.compile(
    rf"(?<![{_LATIN}\d_+＋(/])(?:{_FIRST_CHUNK})(?:[{re.escape(_SEPARATORS)}]{{1,3}}{_NEXT_CHUNK})*"
)
_LATIN_RE: Final = re.compile(rf"[{_LATIN}_]")
_CARD_JUNK_RE: Final = re.compile(r"[^\d \-\u00a0]")
_THOUSANDS_SEPS: Final = frozenset({" ", ".", "\u00a0", "\u2009", "\u202f"})

_PHONE_CUE_RE: Final = re.compile(
    r"(?i)\b(?:tel\b|tel\.|telf|telef|teléf|teleph|phone|mobil|móvil|movil|cell|celular|"
    r"whats\s?app|call|sms|text\s+me|fax|llam|llám|volej|zavolej|hotline|тел|звон)"
    r"|电话|電話|手机|手機|联系|聯繫|致电|拨打|微信"
    r"|تلفن|تماس|موبایل|همراه|هاتف|جوال|اتصل"
    "|फोन|फ़ोन|\u095eोन|मोबाइल|संपर्क|कॉल|व्हाट्सएप"
)
_NOT_PHONE_CUE_RE: Final = re.compile(
    r"(?i)\b(?:order|objedn|pedido|orden|invoice|factur|faktur|track|zásilk|zasilk|envío|envio|"
    r"shipment|parcel|paket|fedex|dhl|ups\b|usps|gls\b|balík|balik|ref\b|ref\.|referenc|sku|serial|ticket|account|"
    r"účet|ucet|cuenta|iban|booking|reserv|rezerv|pnr|policy|póliza|poliza|ids?\b|cena|price|"
    r"precio|cost|total|amount|importe|částk|castk|usd|eur|czk|kč|mxn|inr|cny|rmb|irr|rs\.?)"
    r"|[$€£¥₹﷼]|订单|訂單|单号|單號|运单|快递|编号|发票|發票|账号|賬號|价格|金额|元"
    r"|سفارش|پیگیری|رهگیری|فاکتور|حساب|قیمت|تومان|ریال"
    r"|ऑर्डर|आर्डर|ट्रैकिंग|इनवॉइस|चालान|खाता|क्रमांक|कीमत|रुपये|रु\."
)
_NUMBER_SIGN_RE: Final = re.compile(r"(?i)(?:[#№]|\bn[oº°]\.|\bč\.)\s*$")
_CURRENCY_AFTER_RE: Final = re.compile(
    r"(?i)\s?(?:[$€£¥₹﷼]|kč\b|czk\b|usd\b|eur\b|mxn\b|inr\b|cny\b|rmb\b|元|تومان|ریال|रुपये)"
)
_CUE_WINDOW: Final = 40
_CARD_MIN_DIGITS: Final = 13
_CARD_MAX_DIGITS: Final = 19
_CARD_TAIL: Final = 7  # expiry or CVV written right after the number
_CARD_MAX_HEAD: Final = 15  # a phone number written right before it


def _is_year(group: str) -> bool:
    return len(group) == 4 and group[:2] in ("19", "20")


def _dateish(groups: list[str]) -> bool:
    """Y-M-D, D.M.Y, year ranges ("2025-2026") and year-led IDs ("2024-11873")."""
    if len(groups) < 2:
        return False
    if _is_year(groups[0]):
        return True
    return any(_is_year(g) for g in groups) and any(len(g) <= 2 for g in groups)


def _thousands_shaped(run: str, groups: list[str], raw_groups: list[re.Match[str]]) -> bool:
    """Grouped like an amount ("12 500 000", "1.250.000"): 1-3 digits, then 3-digit groups."""
    if len(groups) < 3 or len(groups[0]) > 3 or any(len(g) != 3 for g in groups[1:]):
        return False
    seps = {run[a.end() : b.start()] for a, b in pairwise(raw_groups)}
    return len(seps) == 1 and next(iter(seps)) in _THOUSANDS_SEPS


def _last_end(pattern: re.Pattern[str], text: str) -> int:
    end = -1
    for m in pattern.finditer(text):
        end = m.end()
    return end


def _phone_ok(text: str, start: int, end: int) -> bool:
    """Whether text[start:end], a number run, is plausibly a phone number in its context."""
    run = text[start:end]
    if _LATIN_RE.search(run):
        return False
    raw_groups = list(_DIGIT_GROUP_RE.finditer(run))
    groups = [_ascii_digits(m.group()) for m in raw_groups]
    digits = "".join(groups)
    plus = run.lstrip("(").startswith(("+", "＋"))
    if plus:
        return 8 <= len(digits) <= 15 and digits[0] != "0"
    if digits.startswith("00") and len(digits) > 2 and digits[2] != "0":
        return 8 <= len(digits) - 2 <= 15
    if not 8 <= len(digits) <= 12 or _dateish(groups):
        return False
    before = text[max(0, start - _CUE_WINDOW) : start]
    if _NUMBER_SIGN_RE.search(before):
        return False
    # A veto cue counts only after the last other number ("order 123, call 555 123 4567").
    last_digit = max((i for i, ch in enumerate(before) if ch.isdecimal()), default=-1)
    veto = _last_end(_NOT_PHONE_CUE_RE, before[last_digit + 1 :])
    veto = veto + last_digit + 1 if veto >= 0 else -1
    cue = _last_end(_PHONE_CUE_RE, before)
    if veto > cue:
        return False
    if _CURRENCY_AFTER_RE.match(text, end) and cue < 0:
        return False
    if cue >= 0:
        return True
    if len(groups) == 1:
        trunk = digits[0] == "0" and digits[1] != "0" and 10 <= len(digits) <= 12
        china_mobile = len(digits) == 11 and digits[0] == "1" and digits[1] in "3456789"
        return trunk or china_mobile
    if len(groups) > 5 or _thousands_shaped(run, groups, raw_groups):
        return False
    if digits[0] == "0":
        return all(1 <= len(g) <= 8 for g in groups)
    return len(groups[0]) <= 5 and all(2 <= len(g) <= 5 for g in groups[1:])


def _is_card_number(number: str) -> bool:
    return (
        _CARD_MIN_DIGITS <= len(number) <= _CARD_MAX_DIGITS
        and number[0] != "0"
        and len(set(number)) > 1
        and _luhn_ok(number)
    )


def _card_span(run: str) -> tuple[int, int] | None:
    """Where in `run` a Luhn-valid card number lies, on digit-group boundaries.

    Either a prefix followed by at most `_CARD_TAIL` more digits ("4111 1111 1111 1111 12/26"
    gives a run ending in "12"), or a suffix after another number ("+420 777 123 456 4111 ...",
    the head is then checked as a phone). Longer runs are some other number.
    """
    groups: list[tuple[int, int, str]] = []
    total = 0
    for m in _DIGIT_GROUP_RE.finditer(run):
        digits = _ascii_digits(m.group())
        total += len(digits)
        if total > _CARD_MAX_DIGITS + _CARD_MAX_HEAD:
            return None
        groups.append((m.start(), m.end(), digits))
    number = ""
    prefixes: list[tuple[int, str]] = []
    for _, end, digits in groups:
        number += digits
        prefixes.append((end, number))
    for end, number in reversed(prefixes):
        if total - len(number) <= _CARD_TAIL and _is_card_number(number):
            return (0, end) if not _CARD_JUNK_RE.search(run, 0, end) else None
    number = ""
    for start, _, digits in reversed(groups[1:]):
        number = digits + number
        if _is_card_number(number):
            return (start, len(run)) if not _CARD_JUNK_RE.search(run, start) else None
    return None


def _trim_parens(text: str, start: int, end: int) -> tuple[int, int]:
    """Drop an unmatched leading "(" or trailing ")" from a run: "(call 777 123 456)"."""
    run = text[start:end]
    if run.count("(") > run.count(")") and run.startswith("("):
        start += 1
    elif run.count(")") > run.count("(") and run.endswith(")"):
        end -= 1
    return start, end


# --- everything else --------------------------------------------------------------------------
_EMAIL_CHAR: Final = rf"{_LATIN}0-9"
# The local part is scanned from the start of its character run (linear); leading punctuation
# and anything up to a ".." ("see...jan@x.cz": dots never repeat in an address) is dropped
# from the span afterwards.
_EMAIL_RE: Final = re.compile(
    rf"(?<![{_EMAIL_CHAR}._%+\-])[{_EMAIL_CHAR}._%+\-]+"
    rf"@[{_EMAIL_CHAR}][{_EMAIL_CHAR}\-]*(?:\.[{_EMAIL_CHAR}\-]+)*\.[A-Za-z][A-Za-z0-9\-]{{1,62}}"
)
_OCTET: Final = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_IPV4_RE: Final = re.compile(
    rf"(?<![A-Za-z0-9_.])(?:{_OCTET}\.){{3}}{_OCTET}(?![A-Za-z0-9_]|\.[0-9])"
)
_IBAN_RE: Final = re.compile(
    r"(?<![A-Za-z0-9])[A-Z]{2}[0-9]{2}(?:[ \u00a0]?[A-Z0-9]{4}){2,7}(?:[ \u00a0]?[A-Z0-9]{1,3})?"
    r"(?![A-Za-z0-9])"
)
_SECRET_RE: Final = re.compile(
    r"(?<![A-Za-z0-9_\-])(?:"
    r"sk-(?:proj-|live-|test-|ant-)?[A-Za-z0-9_\-]{20,}"
    r"|(?:sk|pk|rk)_(?:live|test)_[A-Za-z0-9]{10,}"
    r"|xox[abposre]-[A-Za-z0-9\-]{10,}"
    r"|xapp-[A-Za-z0-9\-]{10,}"
    r"|gh[pousr]_[A-Za-z0-9]{20,}"
    r"|github_pat_[A-Za-z0-9_]{20,}"
    r"|(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA)[A-Z0-9]{16}"
    r"|AIza[A-Za-z0-9_\-]{30,}"
    r"|eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}"
    r"|-----BEGIN [A-Z ]{0,30}PRIVATE KEY-----[A-Za-z0-9+/=\s]*"
    r"-----END [A-Z ]{0,30}PRIVATE KEY-----"
    r")"
)
_SECRET_VALUE_RE: Final = re.compile(
    r"(?i)\b(?:api[_\- ]?key|apikey|secret|access[_\- ]?token|auth[_\- ]?token|token|password|"
    r"passwd|pwd|heslo|contraseña|clave|kennwort|mot de passe)\s{0,3}[:=]\s{0,3}"
    r"(?P<value>[^\s\"'<>,;&]{6,})"
    r"|(?:密码|口令|رمز عبور|رمز|पासवर्ड)\s{0,3}[:：=]?\s{0,3}(?P<value2>[^\s\"'<>,;&，。]{4,})"
)
_URL_PARAM_RE: Final = re.compile(
    r"[?&#;](?P<name>[A-Za-z0-9_.\-]{0,40})=(?P<value>[^&#\s\"'<>]{4,})"
)
_URL_PARAM_NAME_RE: Final = re.compile(
    r"(?i)token|key|secret|sig|auth|code|session|sid|pass|pwd|otp|jwt|hash|nonce|credential"
)
_HAS_DIGIT_RE: Final = re.compile(r"[0-9]")

# Priority when findings overlap (lower wins the name of the merged placeholder).
_PRIORITY: Final = {
    SECRET: 0,
    URL_TOKEN: 1,
    CARD: 3,
    IBAN: 4,
    EMAIL: 5,
    IP: 6,
    PHONE: 7,
    PLACEHOLDER: 8,
}
_GENERIC_SECRET_PRIORITY: Final = 2


class _Span(NamedTuple):
    start: int
    end: int
    priority: int
    kind: str


def _iban_end(text: str, match: re.Match[str]) -> int | None:
    """End of the longest space-aligned prefix of the match that is a valid IBAN."""
    s = match.group()
    cuts = [i for i, ch in enumerate(s) if ch in " \u00a0"] + [len(s)]
    for cut in reversed(cuts):
        compact = s[:cut].replace(" ", "").replace("\u00a0", "")
        if 15 <= len(compact) <= 34:
            rearranged = compact[4:] + compact[:4]
            number = "".join(str(int(ch, 36)) for ch in rearranged)
            if int(number) % 97 == 1:
                return match.start() + cut
    return None


def _fixed_spans(text: str) -> Iterator[_Span]:
    """Findings that don't depend on the vault: everything but number runs."""
    for m in _TOKEN_RE.finditer(text):
        yield _Span(m.start(), m.end(), _PRIORITY[PLACEHOLDER], PLACEHOLDER)
    for m in _EMAIL_RE.finditer(text):
        local = m.group()[: m.group().index("@")]
        local = local[local.rfind("..") + 1 :] if ".." in local else local  # "see...jan@"
        start = m.start() + m.group().index("@") - len(local.lstrip("._%+-"))
        if text[start] != "@":
            yield _Span(start, m.end(), _PRIORITY[EMAIL], EMAIL)
    for m in _IPV4_RE.finditer(text):
        yield _Span(m.start(), m.end(), _PRIORITY[IP], IP)
    for m in _IBAN_RE.finditer(text):
        end = _iban_end(text, m)
        if end is not None:
            yield _Span(m.start(), end, _PRIORITY[IBAN], IBAN)
    for m in _SECRET_RE.finditer(text):
        if m.group().startswith("-----") or _HAS_DIGIT_RE.search(m.group()):
            yield _Span(m.start(), m.end(), _PRIORITY[SECRET], SECRET)
    for m in _SECRET_VALUE_RE.finditer(text):
        group = "value" if m.group("value") is not None else "value2"
        yield _Span(m.start(group), m.end(group), _GENERIC_SECRET_PRIORITY, SECRET)
    for m in _URL_PARAM_RE.finditer(text):
        if _URL_PARAM_NAME_RE.search(m.group("name")):
            yield _Span(m.start("value"), m.end("value"), _PRIORITY[URL_TOKEN], URL_TOKEN)


def _number_spans(text: str, known: dict[str, str]) -> Iterator[_Span]:
    """Cards and phones among the number runs; a rejected run still counts if already masked."""
    accepted: set[str] = set()
    rejected: list[tuple[int, int]] = []
    for m in _RUN_RE.finditer(text):
        start, end = _trim_parens(text, m.start(), m.end())
        card = _card_span(text[start:end])
        if card is not None:
            accepted.add(text[start + card[0] : start + card[1]])
            yield _Span(start + card[0], start + card[1], _PRIORITY[CARD], CARD)
            if card[0] == 0:
                continue
            end = start + len(text[start : start + card[0]].rstrip(_SEPARATORS))
        if _phone_ok(text, start, end):
            accepted.add(text[start:end])
            yield _Span(start, end, _PRIORITY[PHONE], PHONE)
        else:
            rejected.append((start, end))
    for start, end in rejected:
        run = text[start:end]
        if run in accepted or run in known:
            yield _Span(start, end, _PRIORITY[PHONE], PHONE)


def _spans(text: str, known: dict[str, str]) -> list[tuple[int, int, str]]:
    """Non-overlapping (start, end, kind) to mask, in order; overlapping findings merged."""
    found = sorted(
        span for span in (*_fixed_spans(text), *_number_spans(text, known)) if span.end > span.start
    )
    merged: list[_Span] = []
    for span in found:
        if merged and span.start < merged[-1].end:
            last = merged[-1]
            best = span if span.priority < last.priority else last
            merged[-1] = _Span(last.start, max(last.end, span.end), best.priority, best.kind)
        else:
            merged.append(span)
    return [(span.start, span.end, span.kind) for span in merged]


# --- the vault --------------------------------------------------------------------------------
@dataclass
class PiiVault:
    """Placeholder → original, for one LLM request. Same original → same placeholder.

    `repr` shows only the counts, so a vault in a log line or traceback leaks nothing.
    """

    _originals: dict[str, str] = field(default_factory=dict, init=False, repr=False)
    _placeholders: dict[str, str] = field(default_factory=dict, init=False, repr=False)
    _counts: dict[str, int] = field(default_factory=dict, init=False, repr=False)

    def __repr__(self) -> str:
        return f"PiiVault(found={self._counts!r})"

    def mask(self, text: str) -> str:
        """`text` with PII (and placeholder look-alikes) replaced by this vault's placeholders."""
        parts: list[str] = []
        pos = 0
        for start, end, kind in _spans(text, self._placeholders):
            parts.append(text[pos:start])
            parts.append(f"[{self._placeholder(kind, text[start:end])}]")
            pos = end
        parts.append(text[pos:])
        return "".join(parts)

    def restore(self, text: str) -> str:
        """`text` with every placeholder this vault issued replaced by its original."""
        if not self._originals:
            return text

        def original(match: re.Match[str]) -> str:
            return self._originals.get(_token_key(match), match.group())

        return _TOKEN_RE.sub(original, text)

    @property
    def found(self) -> dict[str, int]:
        """Distinct values masked per kind, e.g. {"EMAIL": 2, "PHONE": 1}: counts, never values."""
        return dict(self._counts)

    def _placeholder(self, kind: str, original: str) -> str:
        token = self._placeholders.get(original)
        if token is None:
            n = self._counts.get(kind, 0) + 1
            self._counts[kind] = n
            token = f"{kind}_{n}"
            self._placeholders[original] = token
            self._originals[token] = original
        return token


def mask_all(texts: Sequence[str]) -> tuple[list[str], PiiVault]:
    """Mask several texts (a whole conversation) with one vault: consistent numbering."""
    if isinstance(texts, str):
        raise TypeError("mask_all takes a sequence of texts, not one str: use PiiVault().mask")
    vault = PiiVault()
    return [vault.mask(text) for text in texts], vault
