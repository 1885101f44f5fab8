"""Understanding a message: intent, sentiment, language. `Classifier` is the seam; the
offline default lives in `handlers.classify_offline` and needs no network."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

Intent = Literal["complaint", "question", "purchase_intent", "praise", "spam", "other"]
Sentiment = Literal["negative", "neutral", "positive"]


@dataclass(frozen=True)
class Classification:
    intent: Intent
    sentiment: Sentiment
    language: str | None  # ISO 639-1 where known ("en", "fa", "zh", "hi", "cs", "es"…)
    summary: str | None = None  # one-line English summary (LLM classifiers only)
    urgency: int = 0  # 0 normal … 2 very urgent (e.g. "lawyer", "cancel now")


class Classifier(Protocol):
    def classify(self, text: str, language_hint: str | None = None) -> Classification: ...
