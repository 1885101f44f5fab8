"""The offline classifier: language, intent, sentiment and urgency from lexicons and rules.

It runs on every inbound message, so it is built for speed and predictability: everything
(regexes, cue indexes) is compiled once at import; a call normalizes the text once and then
does dictionary look-ups per word, plus trie-shaped regexes for scripts without word
boundaries. Every regex is linear-time (no nested quantifiers; scans that could restart at
every character are anchored to word starts), and only the first `MAX_CHARS` characters
are read, so a pasted 100k-character post costs the same as a long tweet. No network, no
randomness, no mutable module state.

Decisions, in order (see `_intent` for the reasons behind the precedence):
1. language: a network-supplied hint wins; otherwise `handlers.language` detects it (by
   script, then for Latin text by marks and stopwords), sharing this module's normalization;
2. cues: lexicon hits per intent and polarity; what follows a contrast word ("but") weighs
   1.5×, and a negator up to three words before a single-word cue flips its polarity
   ("not bad") or cancels it as evidence for praise/complaint ("not broken");
3. intent: spam > complaint > purchase_intent > question > praise > other, with greetings
   ("happy friday!") as small talk and bare polarity ("👎👎") deciding when no cue does;
4. sentiment: positive minus negative evidence (words, emoji, emoticons); spam is neutral.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final

from handlers import classify_lexicon as lx
from handlers.classify import Classification, Intent, Sentiment
from handlers.language import (
    ARABIC_WORD,
    MAX_CHARS,
    NOISE,
    TOKEN,
    detect_language,
    fold,
    language_of,
    normalize_language_hint,
)

__all__ = ["MAX_CHARS", "OfflineClassifier", "detect_language", "normalize_language_hint"]

# MAX_CHARS, `detect_language` and `normalize_language_hint` live in `handlers.language` and
# are re-exported here for callers that predate the split.

# --- tokens and scripts --------------------------------------------------------------------
# Folding (`fold`), link/handle removal (`NOISE`) and tokens (`TOKEN`) are shared with
# language detection, so both read the same words; see `handlers.language`.
_URL: Final = re.compile(r"https?://|www\.")
_MENTION: Final = re.compile(r"(?<!\w)@\w")
_CLAUSE_BREAK: Final = re.compile(r"[,.;:!?¿¡،؛。\n]")  # negation does not reach past these

# Scripts without reliable word boundaries: cues there match as substrings.
_SUBSTRING_SCRIPT: Final = re.compile(
    r"[\u0900-\u097F\u0E00-\u0E7F\u3040-\u30FF\u3400-\u9FFF"
    r"\uAC00-\uD7AF\u1100-\u11FF\u3130-\u318F]"
)
_DEVANAGARI: Final = re.compile(r"[\u0900-\u097F]")

# --- non-lexical signals -------------------------------------------------------------------
_QUESTION_MARK: Final = re.compile(r"[?¿؟]")
_POSITIVE_EMOJI: Final = re.compile(f"[{lx.POSITIVE_EMOJI}]|(?<![\\w:])[:;=]-?[)\\]dp](?!\\w)|<3")
_NEGATIVE_EMOJI: Final = re.compile(f"[{lx.NEGATIVE_EMOJI}]|(?<![\\w:])[:=]-?[(\\[](?!\\w)")
_PROMO_EMOJI: Final = re.compile(f"[{lx.PROMO_EMOJI}]")
_MONEY: Final = re.compile(
    r"[$€£₹¥]\s?\d|\d\s?(?:[$€£₹¥]|usd|eur|kc|czk|元|تومان|دلار|dollars|dolares|rupees|रुपय)"
)
_HYPE: Final = re.compile(r"\d\d\d\s?%|\$\$")  # "300% profit", "make $$$"

_POLAR: Final = frozenset({"praise", "complaint", "pos", "neg"})
_FLIP: Final = {"pos": "neg", "neg": "pos"}
_PRECEDENCE: Final[tuple[Intent, ...]] = ("complaint", "purchase_intent", "question", "praise")
_NEGATION_WINDOW: Final = 3  # words; "not really that good" still negates "good"
_AFTER_CONTRAST: Final = 1.5
_SPAM_THRESHOLD: Final = 2.0


@dataclass(frozen=True, slots=True)
class _Cue:
    key: str  # intent name, "pos"/"neg", "urgent"/"critical", "contrast" or "greeting"
    weight: float
    rest: tuple[str, ...]  # the words after the first
    prefix: bool  # the last word is a prefix ("refund*")
    size: int  # words matched: 1 + len(rest), stored because the hot loop reads it

    def matches_rest(self, tokens: list[str], i: int) -> bool:
        following = tuple(tokens[i + 1 : i + self.size])
        if not (self.prefix and self.rest):
            return following == self.rest
        return (
            len(following) == len(self.rest)
            and following[:-1] == self.rest[:-1]
            and following[-1].startswith(self.rest[-1])
        )


Hit = tuple[str, float, int, bool]  # key, weight, character position, negated


def _trie_pattern(entries: Iterable[str]) -> str:
    """One regex for many literal cues, shaped as a trie ("退款|退钱" → "退(?:款|钱)"), so the
    engine branches per character instead of trying every cue at every position; optional
    tails are greedy, so the longest cue at a position wins. Devanagari separates words
    with spaces, so a cue may not start inside a word ("मस्त" must not fire inside
    "नमस्ते"); suffixes stay open ("कमा" → "कमाएं")."""
    trie: dict[str, dict] = {}
    for entry in entries:
        node = trie
        for char in entry:
            node = node.setdefault(char, {})
        node[""] = {}  # a cue ends here

    def build(node: dict[str, dict], top: bool) -> str:
        branches = []
        for char, child in sorted(node.items()):
            if char:
                guard = "(?<![\u0900-\u097f])" if top and _DEVANAGARI.match(char) else ""
                branches.append(guard + re.escape(char) + build(child, top=False))
        if not branches:
            return ""
        body = "(?:" + "|".join(branches) + ")"
        return body + "?" if "" in node else body

    return build(trie, top=True) or "(?!)"


class _Lexicon:
    """Cue tables compiled into word indexes (word scripts) and substring regexes (one per
    family, as for words: "周末愉快" as a greeting must not hide its positive "愉快")."""

    def __init__(self, tables: Mapping[str, Mapping[str, Iterable[str]]]) -> None:
        self.exact: dict[str, list[_Cue]] = defaultdict(list)
        self.stems: dict[str, list[_Cue]] = defaultdict(list)
        self.substrings: dict[str, dict[str, list[tuple[str, float]]]] = {
            "polar": defaultdict(list),
            "other": defaultdict(list),
        }
        # The same word may be listed under several languages ("bug", "super", "demo"):
        # it is one cue, at the most cautious of its weights.
        weights: dict[tuple[str, str], float] = {}
        for key, by_language in tables.items():
            for entries in by_language.values():
                for entry in entries:
                    weight = {"~": 0.5, "+": 2.0}.get(entry[0], 1.0)
                    body = fold(entry.lstrip("~+"))
                    weights[key, body] = min(weight, weights.get((key, body), weight))
        for (key, body), weight in weights.items():
            self._add(key, body, weight)
        self.stem_lengths = tuple(sorted({len(s) for s in self.stems}, reverse=True))
        self.substring_res = {
            family: re.compile(_trie_pattern(cues)) for family, cues in self.substrings.items()
        }

    def _add(self, key: str, entry: str, weight: float) -> None:
        prefix = entry.endswith("*")
        text = entry.rstrip("*")
        if _SUBSTRING_SCRIPT.search(text):
            family = "polar" if key in _POLAR else "other"
            self.substrings[family][text].append((key, weight))
            return
        first, *rest = TOKEN.findall(text)
        cue = _Cue(key, weight, tuple(rest), prefix, 1 + len(rest))
        index = self.stems if prefix and not rest else self.exact
        if cue in index[first]:
            return  # a spelling variant already listed under another language
        index[first].append(cue)
        if rest and ARABIC_WORD.match(first):
            # Persian joins compounds with ZWNJ, a space, or nothing ("فوق‌العاده"): the
            # folded ZWNJ form is the joined one, so index that spelling as well.
            self._add(key, "".join(text.split()) + "*" * prefix, weight)

    def _candidates(self, token: str) -> list[_Cue]:
        found = list(self.exact.get(token, ()))
        size = len(token)
        for n in self.stem_lengths:
            if n <= size and (cues := self.stems.get(token[:n])):
                found.extend(cues)
        return found

    def word_hits(self, tokens: list[str], starts: list[int], clauses: list[int]) -> list[Hit]:
        """Longest cue per family at each word; polar cues share one family so "could be
        better" is negative only, and "great job" does not also count "great". One hit per
        key and word, so "urgente" is not urgent twice (as "urgent*" and "urgente*")."""
        hits: list[Hit] = []
        covered: dict[str, int] = {}
        candidates: dict[str, list[_Cue]] = {}  # per call: long posts repeat their words
        for i, token in enumerate(tokens):
            if (found := candidates.get(token)) is None:
                found = candidates[token] = self._candidates(token)
            if not found:
                continue
            matched = [c for c in found if c.matches_rest(tokens, i)]
            best: dict[str, int] = {}
            for cue in matched:
                family = "polar" if cue.key in _POLAR else cue.key
                if covered.get(family, 0) <= i and cue.size > best.get(family, 0):
                    best[family] = cue.size
            chosen: dict[str, _Cue] = {}
            for cue in matched:
                family = "polar" if cue.key in _POLAR else cue.key
                longest = best.get(family) == cue.size and covered.get(family, 0) <= i
                if longest and (cue.key not in chosen or cue.weight > chosen[cue.key].weight):
                    chosen[cue.key] = cue
            for cue in chosen.values():
                negated = (
                    cue.size == 1
                    and cue.key in _POLAR
                    and any(
                        tokens[j] in _NEGATORS and clauses[j] == clauses[i]
                        for j in range(max(0, i - _NEGATION_WINDOW), i)
                    )
                )
                hits.append((cue.key, cue.weight, starts[i], negated))
            for family, size in best.items():
                covered[family] = i + size
        return hits

    def substring_hits(self, text: str) -> list[Hit]:
        return [
            (key, weight, m.start(), False)
            for family, pattern in self.substring_res.items()
            for m in pattern.finditer(text)
            for key, weight in self.substrings[family][m.group()]
        ]


_LEXICON: Final = _Lexicon(
    {
        "complaint": lx.COMPLAINT,
        "question": lx.QUESTION,
        "purchase_intent": lx.PURCHASE,
        "praise": lx.PRAISE,
        "spam": lx.SPAM,
        "pos": lx.POSITIVE,
        "neg": lx.NEGATIVE,
        "urgent": lx.URGENT,
        "critical": lx.CRITICAL,
        "contrast": lx.CONTRAST,
        "greeting": lx.GREETING,
    }
)
_NEGATORS: Final = frozenset(fold(w) for words in lx.NEGATORS.values() for w in words)


@dataclass(frozen=True, slots=True)
class _Prepared:
    """One message, normalized once and shared by language detection and cue matching."""

    nfkc: str  # NFKC, original case (shouting detection)
    lower: str  # NFKC lower-case, links and handles removed: script and accent evidence
    folded: str  # `fold` of `lower`: cue matching
    tokens: list[str]
    starts: list[int]  # character offset of each token in `folded`
    clauses: list[int]  # clause number of each token (counted by punctuation)
    links: int
    mentions: int

    @classmethod
    def of(cls, text: str, max_chars: int) -> _Prepared:
        nfkc = unicodedata.normalize("NFKC", text[:max_chars])
        raw_lower = nfkc.lower()
        lower = NOISE.sub(" ", raw_lower)
        folded = fold(lower)
        matches = list(TOKEN.finditer(folded))
        starts = [m.start() for m in matches]
        breaks = [m.start() for m in _CLAUSE_BREAK.finditer(folded)]
        return cls(
            nfkc=nfkc,
            lower=lower,
            folded=folded,
            tokens=[m.group() for m in matches],
            starts=starts,
            clauses=[bisect(breaks, start) for start in starts],
            links=len(_URL.findall(raw_lower)),
            mentions=len(_MENTION.findall(nfkc)),
        )


def _scores(prep: _Prepared) -> dict[str, float]:
    hits = _LEXICON.word_hits(prep.tokens, prep.starts, prep.clauses)
    if _SUBSTRING_SCRIPT.search(prep.folded):
        hits += _LEXICON.substring_hits(prep.folded)
    contrast_at = max((pos for key, _, pos, _ in hits if key == "contrast"), default=-1)
    scores: dict[str, float] = defaultdict(float)
    for key, weight, pos, negated in hits:
        if negated and key not in _FLIP:
            continue  # "not broken" is no complaint, "not great" no praise
        boost = _AFTER_CONTRAST if key in _POLAR and 0 <= contrast_at < pos else 1.0
        scores[_FLIP[key] if negated else key] += weight * boost
    if _QUESTION_MARK.search(prep.nfkc):
        scores["question"] += 1.0
    scores["pos"] += min(3, len(_POSITIVE_EMOJI.findall(prep.folded)))
    scores["neg"] += min(3, len(_NEGATIVE_EMOJI.findall(prep.folded)))
    scores["spam"] += _spam_shape(prep)
    return scores


def _spam_shape(prep: _Prepared) -> float:
    """Evidence from the message's shape rather than its words: link farms, mass mentions,
    money amounts, absurd percentages, a row of money/rocket emoji."""
    score = {0: 0.0, 1: 0.0, 2: 1.0}.get(prep.links, 2.0)
    score += 1.0 if prep.mentions >= 3 else 0.0
    score += 0.5 if _MONEY.search(prep.folded) else 0.0
    score += 0.5 if _HYPE.search(prep.folded) else 0.0
    score += 0.5 if len(_PROMO_EMOJI.findall(prep.nfkc)) >= 2 else 0.0
    return score


def _intent(scores: Mapping[str, float], polarity: float) -> Intent:
    """Spam first (it must never reach a team channel as a lead). A complaint outranks
    everything else a message also contains, because an unhappy customer asking a price is
    still unhappy, except when the praise after a "but" outweighs it ("it crashed once, but
    you fixed it fast, thanks!"). A buying signal outranks a plain question (sales wants
    "how much is pro?"), and a question outranks praise ("love it! is there dark mode?").
    With no cue of full weight, a greeting is small talk, then the message's polarity
    decides (a bare "👎👎" is a complaint), and only then do weak cues count."""
    if scores.get("spam", 0.0) >= _SPAM_THRESHOLD:
        return "spam"
    strong = [i for i in _PRECEDENCE if scores.get(i, 0.0) >= 1.0]
    if "complaint" in strong and scores.get("praise", 0.0) > scores["complaint"]:
        strong.remove("complaint")
    if strong:
        return strong[0]
    if scores.get("greeting"):
        return "other"  # "happy friday!" is small talk, not praise of the product
    if polarity:
        return "complaint" if polarity < 0 else "praise"
    weak = [i for i in _PRECEDENCE if scores.get(i, 0.0) > 0]
    return weak[0] if weak else "other"


def _sentiment(positive: float, negative: float, intent: Intent) -> Sentiment:
    if intent == "spam":
        return "neutral"  # a promo's cheer is not a customer's mood
    # With mixed evidence the intent, which already weighed contrast and precedence, says
    # which side the customer meant: "great product, terrible billing" is a negative post.
    if intent == "complaint" and negative > 0:
        return "negative"
    if intent == "praise" and positive > 0:
        return "positive"
    if positive == negative:
        return "neutral"
    return "positive" if positive > negative else "negative"


def _urgency(scores: Mapping[str, float], intent: Intent, prep: _Prepared) -> int:
    if intent == "spam":
        return 0
    level = 2 if scores.get("critical") or scores.get("urgent", 0.0) >= 2 else 0
    level = level or (1 if scores.get("urgent") else 0)
    shouting = (len(prep.nfkc) >= 8 and prep.nfkc.isupper()) or prep.nfkc.count("!") >= 3
    if intent == "complaint" and shouting:
        level = max(level, 1)
    return level


class OfflineClassifier:
    """`Classifier` without a network: deterministic, thread-safe (no state is written after
    import), tens of microseconds per short message."""

    def __init__(self, max_chars: int = MAX_CHARS) -> None:
        # Only tests raise this, to run the matchers over huge inputs and prove they stay
        # linear; production keeps the default cap.
        self._max_chars = max_chars

    def classify(self, text: str, language_hint: str | None = None) -> Classification:
        prep = _Prepared.of(text, self._max_chars)
        scores = _scores(prep)
        positive = scores.get("pos", 0.0) + scores.get("praise", 0.0)
        negative = scores.get("neg", 0.0) + scores.get("complaint", 0.0)
        polarity = positive - negative
        intent = _intent(scores, polarity)
        return Classification(
            intent=intent,
            sentiment=_sentiment(positive, negative, intent),
            language=normalize_language_hint(language_hint) or language_of(prep.lower, prep.tokens),
            summary=None,
            urgency=_urgency(scores, intent, prep),
        )
