"""Language detection for customer messages, and the text normalization it shares with the
offline classifier (`handlers.classify_offline`, which folds its cue lexicons the same way).

Built like the classifier: everything is compiled at import, a call normalizes the text once,
reads only the first `MAX_CHARS` characters and uses linear-time regexes; no network, no
randomness, no mutable module state.

Decisions, in order: a network-supplied hint wins (`normalize_language_hint`, applied by the
classifier); otherwise the dominant script decides (CJK characters weigh 3× a Latin letter),
Arabic script is Persian when it has Persian letters or function words, Cyrillic is Ukrainian
when it has Ukrainian letters, and Latin text is scored by accented letters and stopwords,
falling back to English when it has no other signal. Text with no letters at all (emoji,
digits, a bare link) has no language.
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Final

__all__ = [
    "ARABIC_WORD",
    "MAX_CHARS",
    "NOISE",
    "TOKEN",
    "detect_language",
    "fold",
    "language_of",
    "normalize_language_hint",
]

MAX_CHARS: Final = 5_000  # a longer post is an article; its opening carries the intent

# --- normalization -------------------------------------------------------------------------
# Dropped after NFD: Latin/Greek/Cyrillic accents (customers skip them: "dekuji", "como"),
# Arabic harakat/hamza marks/tatweel, the Devanagari nukta (ज़ = ज), ZWNJ/ZWJ (Persian
# "نمی‌کنه" = "نمیکنه"), bidi marks, emoji variation selectors, apostrophes ("doesn't").
_FOLD_TABLE: Final = {
    **dict.fromkeys([*range(0x300, 0x370), *range(0x64B, 0x660), 0x670, 0x640, 0x93C], None),
    **dict.fromkeys([0x200C, 0x200D, 0x200E, 0x200F, 0xFE0F, 0x27, 0x2019, 0x2018], None),
    # Arabic yeh/alef maksura/kaf and their Persian forms are typed interchangeably.
    **{0x64A: "ی", 0x649: "ی", 0x643: "ک"},
    0x901: "ं",  # candrabindu and anusvara are spelled interchangeably (हूँ / हूं)
}
_PERSIAN_PREFIX: Final = re.compile(r"(?<![\u0620-\u06FF])(ن?می) (?=[\u0620-\u06FF])")
# Links, e-mail addresses and @handles: their letters are not the customer's language.
NOISE: Final = re.compile(r"https?://\S+|www\.\S+|(?<!\S)[^\s@]++@\S+|(?<!\w)@\w+")
TOKEN: Final = re.compile(r"[^\W_]+")
ARABIC_WORD: Final = re.compile(r"[\u0620-\u06FF]+")


def fold(text: str) -> str:
    """NFKC + casefold + the `_FOLD_TABLE` simplifications; cue entries go through it too."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    if not folded.isascii():
        folded = unicodedata.normalize("NFD", folded).translate(_FOLD_TABLE)
        folded = unicodedata.normalize("NFC", folded)
        if "می " in folded:  # Persian verb prefix typed with a space instead of ZWNJ
            folded = _PERSIAN_PREFIX.sub(r"\1", folded)
    else:
        folded = folded.replace("'", "")
    return " ".join(folded.split())


# --- data ----------------------------------------------------------------------------------
# fmt: off
# Latin letters that point at a language, with weights: 3 = practically unique in scope,
# lower = shared. Counted on the unfolded lower-case text.
LATIN_MARKS: Final[dict[str, dict[str, float]]] = {
    "ě": {"cs": 3}, "ř": {"cs": 3}, "ů": {"cs": 3}, "š": {"cs": 2}, "č": {"cs": 2},
    "ž": {"cs": 2}, "ň": {"cs": 2}, "ť": {"cs": 2}, "ď": {"cs": 2}, "ý": {"cs": 1.5},
    "ñ": {"es": 3}, "¿": {"es": 3}, "¡": {"es": 3},
    "ß": {"de": 3}, "ä": {"de": 2}, "ö": {"de": 2}, "ü": {"de": 1.5},
    "ã": {"pt": 3}, "õ": {"pt": 3}, "ç": {"fr": 1, "pt": 1}, "â": {"fr": 0.5, "pt": 0.5},
    "ê": {"fr": 1, "pt": 0.5}, "ô": {"fr": 0.5, "pt": 0.5}, "è": {"fr": 1, "it": 1},
    "à": {"fr": 1, "pt": 0.5, "it": 0.5}, "ù": {"fr": 1, "it": 0.5}, "î": {"fr": 1.5},
    "ï": {"fr": 1.5}, "ë": {"fr": 1.5}, "œ": {"fr": 3}, "û": {"fr": 1.5},
    "ò": {"it": 1.5}, "ì": {"it": 1.5},
    "ą": {"pl": 3}, "ę": {"pl": 3}, "ł": {"pl": 3}, "ś": {"pl": 3}, "ź": {"pl": 3},
    "ż": {"pl": 3}, "ń": {"pl": 3}, "ć": {"pl": 2},
    "á": {"cs": 0.5, "es": 0.5, "pt": 0.5}, "é": {"cs": 0.5, "es": 0.5, "fr": 0.5, "pt": 0.5},
    "í": {"cs": 0.5, "es": 0.5, "pt": 0.5}, "ó": {"es": 0.5, "pt": 0.5, "pl": 0.5},
    "ú": {"cs": 0.5, "es": 0.5, "pt": 0.5},
}

# Frequent short words per language (folded like cue entries). Shared words are listed in
# each language that uses them; they then add to every candidate and cancel out.
STOPWORDS: Final[dict[str, str]] = {
    "en": "a the an and or but is are was were be been it its this that i im ive my you your"
          " youre we our they their he she his her to of in on at for with from by about as"
          " if not no dont doesnt didnt isnt cant wont can could would should will do does did"
          " have has had get got how what why where when which who there here please pls"
          " thanks thank thx hi hello hey just so very really still all any some much guys"
          " love great good bad ok okay yes lol tbh anyone since after before every me us"
          " them because then than now new one up out over again never always only also too"
          " back going trying tried use using someone everything nothing something know think"
          " want need make time u ur",
    "es": "el la los las un una unos de del al y o que en es por para con no mi tu su se lo"
          " le me muy pero como cuando donde porque gracias hola ayuda cuenta este esta estoy"
          " tengo tienen hay puedo quiero necesito desde nos vemos vale sí ya todo todos"
          " alguien sabe algo hacer puede también así solo cuál qué mucho nada nunca siempre"
          " ahora hoy día días tiene hace ser está están fue eso esto aquí usted ustedes sin"
          " sobre hasta otro otra vez mismo nuestro llevo verdad después antes",
    "cs": "a je jsem jsi jsme jste jsou se si to ten ta na do od po za pro při s z k v ve ze"
          " ale jak kde kdy proč co už ještě taky také tak moc děkuji děkuju díky ahoj dobrý"
          " den prosím mi mě mně můj moje vám váš nám nás bych by bychom chci není nejde"
          " tohle tady jen nebo ani zítra dnes včera jsem mám máte fakt furt nějak nějaký"
          " protože když jestli všechno vše nic nikdo tam teď prostě asi pořád proto mezi"
          " jaký který",
    "de": "der die das und ist nicht ein eine ich du sie wir mit für auf zu den dem im ab auch"
          " aber wie was warum kann bitte danke vielen hallo mein meine kein keine schon noch"
          " sehr es mehr immer nur jetzt heute habe hat sind war wird möchte gibt mich mir"
          " uns dass oder weil wenn dann doch mal",
    "fr": "le la les un une des de du et est cest je tu il elle nous vous pas ne que qui"
          " pour avec sur dans ce cette mon ma mes merci bonjour salut très tout comment"
          " pourquoi où jai peux plus rien depuis mise jour mais ça bien sont ont fait faire"
          " être aussi encore toujours votre vos notre quand comme",
    "pt": "o a os as um uma de do da dos das e em no na com para por que não sim muito"
          " obrigado obrigada você eu meu minha olá oi como quanto custa conta isso novo nova"
          " está estou tenho tem seu sua ele ela aqui agora já também mais então pra vocês"
          " nada sempre hoje dia ainda quando onde bom boa tudo fazer pode posso preciso",
    "it": "il lo la gli le un una di del della e che non per con sono ho ciao grazie mille"
          " molto come perché cosa questo questa mio mia così oggi anche ancora sempre già"
          " più buongiorno nel nella dal alla ma hai ha abbiamo fare essere",
    "pl": "i w z na do nie jest to się że jak co mam proszę dziękuję dzięki cześć",
}

# Persian function words that Arabic does not use, for Persian written without پ چ ژ گ ی ک.
PERSIAN_WORDS: Final = frozenset((
    "از", "را", "این", "است", "نیست", "هست", "خیلی", "ممنون", "مرسی", "چرا", "چطور", "کجا",
    "برای", "دارم", "داریم", "میشه", "ولی", "اما", "شما",
))
PERSIAN_LETTERS: Final = frozenset("پچژگیک")
UKRAINIAN_LETTERS: Final = frozenset("іїєґ")
# fmt: on

_SCRIPTS: Final = re.compile(
    r"(?P<latin>[a-z\u00DF-\u00F6\u00F8-\u024F]+)|(?P<cyrillic>[\u0400-\u04FF]+)"
    r"|(?P<greek>[\u0370-\u03FF\u1F00-\u1FFF]+)|(?P<arabic>[\u0620-\u064A\u0671-\u06D3\u06FA-\u06FF]+)"
    r"|(?P<hebrew>[\u05D0-\u05EA]+)|(?P<devanagari>[\u0900-\u0963\u0971-\u097F]+)"
    r"|(?P<thai>[\u0E01-\u0E4E]+)|(?P<kana>[\u3041-\u30FF]+)|(?P<han>[\u3400-\u4DBF\u4E00-\u9FFF]+)"
    r"|(?P<hangul>[\uAC00-\uD7AF\u1100-\u11FF\u3130-\u318F]+)"
)
# One CJK character carries about as much as a short Latin word.
_SCRIPT_WEIGHT: Final = {"han": 3.0, "kana": 3.0, "hangul": 3.0}
_SCRIPT_LANGUAGE: Final = {
    "hebrew": "he",
    "devanagari": "hi",
    "thai": "th",
    "greek": "el",
    "hangul": "ko",
}
_LATIN_ORDER: Final = ("en", "es", "cs", "de", "fr", "pt", "it", "pl")  # tie-break order
_MARKS: Final = re.compile("[" + "".join(LATIN_MARKS) + "]")
_HINT_ALIASES: Final = {"iw": "he", "in": "id", "ji": "yi"}  # pre-1989 ISO codes still seen
_HINT_UNKNOWN: Final = frozenset({"und", "mul", "zxx", "mis"})  # "undetermined" etc.


def _stopword_index(stopwords: Mapping[str, str]) -> dict[str, tuple[str, ...]]:
    index: dict[str, tuple[str, ...]] = {}
    for lang, words in stopwords.items():
        for word in sorted(set(fold(words).split())):
            index[word] = (*index.get(word, ()), lang)
    return index


_STOPWORDS: Final = _stopword_index(STOPWORDS)


def _script_counts(lower: str) -> dict[str, float]:
    counts: dict[str, float] = defaultdict(float)
    for m in _SCRIPTS.finditer(lower):
        script = m.lastgroup or ""
        counts[script] += (m.end() - m.start()) * _SCRIPT_WEIGHT.get(script, 1.0)
    return counts


def language_of(lower: str, tokens: Iterable[str]) -> str | None:
    """The language of a message already normalized: `lower` is its NFKC lower-case text
    with `NOISE` removed (script and accent evidence), `tokens` the `TOKEN`s of its `fold`
    (stopword evidence). The classifier calls this with the forms it has computed anyway."""
    counts = _script_counts(lower)
    if not counts:
        return None  # emoji, digits, punctuation, a bare link: no linguistic signal
    cjk = counts.get("han", 0.0) + counts.get("kana", 0.0)
    script = max(counts, key=lambda s: cjk if s in ("han", "kana") else counts[s])
    if script in ("han", "kana"):
        return "ja" if counts.get("kana") else "zh"
    if script == "arabic":
        persian = not PERSIAN_LETTERS.isdisjoint(lower) or any(
            w in PERSIAN_WORDS for w in ARABIC_WORD.findall(lower)
        )
        return "fa" if persian else "ar"
    if script == "cyrillic":
        return "ru" if UKRAINIAN_LETTERS.isdisjoint(lower) else "uk"
    if script == "latin":
        return _latin_language(lower, tokens)
    return _SCRIPT_LANGUAGE[script]


def _latin_language(lower: str, tokens: Iterable[str]) -> str:
    scores: dict[str, float] = defaultdict(float)
    for mark in _MARKS.findall(lower):
        for lang, weight in LATIN_MARKS[mark].items():
            scores[lang] += weight
    for token in tokens:
        for lang in _STOPWORDS.get(token, ()):
            scores[lang] += 1.0
    best = max(_LATIN_ORDER, key=lambda lang: scores.get(lang, 0.0))
    # Latin text without any marker is most often English (or a brand name): say so rather
    # than None, so drafts default to the lingua franca of the channel.
    return best if scores.get(best) else "en"


def detect_language(text: str) -> str | None:
    """ISO 639-1 code of `text`, or None when there is no linguistic signal at all."""
    lower = NOISE.sub(" ", unicodedata.normalize("NFKC", text[:MAX_CHARS]).lower())
    return language_of(lower, TOKEN.findall(fold(lower)))


def normalize_language_hint(hint: str | None) -> str | None:
    """ "en-US" → "en", "zh_Hant" → "zh"; None for empty, malformed or "und" hints."""
    if not hint:
        return None
    code = hint.strip().lower().replace("_", "-").split("-")[0]
    if not (2 <= len(code) <= 3 and code.isascii() and code.isalpha()) or code in _HINT_UNKNOWN:
        return None
    return _HINT_ALIASES.get(code, code)
