"""LLM-backed drafter and classifier for OpenAI or any OpenAI-compatible server (Ollama,
vLLM, LM Studio) through Chat Completions. Each falls back to its offline twin on any
failure and says so, so a support team is never left without a draft or a triage label."""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from typing import Literal

import openai
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from handlers.classify import Classification, Classifier
from handlers.drafting import DraftContext, Drafter, DraftText
from handlers.privacy import PiiVault, mask_all
from handlers.prompting import Fence, conversation_block, language_name, render

log = logging.getLogger(__name__)

# Failures that mean "the model did not give us a usable answer": fall back, don't crash.
# openai raises json.JSONDecodeError itself for a truncated body.
LLM_FAILURES = (openai.OpenAIError, json.JSONDecodeError, ValidationError, ValueError)


def make_client(
    api_key: str, base_url: str | None, timeout: float, max_retries: int = 2
) -> openai.OpenAI:
    """Explicit timeout and retries: the library default waits up to 10 minutes."""
    return openai.OpenAI(
        api_key=api_key, base_url=base_url, timeout=timeout, max_retries=max_retries
    )


def _reason(exc: BaseException) -> str:
    if isinstance(exc, openai.APITimeoutError):
        return "the model timed out"
    if isinstance(exc, openai.RateLimitError):
        return "the model was rate-limited"
    if isinstance(exc, openai.APIStatusError):
        return f"the model answered HTTP {exc.status_code}"
    if isinstance(exc, openai.APIConnectionError):
        return "the model could not be reached"
    return "the model's answer was unusable"


class OpenAIDrafter:
    def __init__(
        self,
        client: openai.OpenAI,
        model: str,
        brand: str,
        fallback: Drafter,
        *,
        send_pii: bool = False,
    ) -> None:
        self.client = client
        self.model = model
        self.brand = brand
        self.fallback = fallback
        self.send_pii = send_pii

    def draft(self, context: DraftContext) -> DraftText:
        texts = [text for _, text in context.history]
        vault = PiiVault()
        if not self.send_pii:
            texts, vault = mask_all(texts)
        history = tuple((d, t) for (d, _), t in zip(context.history, texts, strict=True))
        try:
            answer = self._complete(replace(context, history=history))
        except LLM_FAILURES as exc:
            reason = _reason(exc)
            log.warning(
                "LLM draft failed for conversation %s (%s: %s); using the offline drafter",
                context.conversation_id,
                type(exc).__name__,
                reason,
            )
            return replace(
                self.fallback.draft(context), fallback_reason=f"{reason}; offline template used"
            )
        if vault.found:
            log.info("masked PII kinds %s before drafting", vault.found)  # counts, never values
        return DraftText(
            text=vault.restore(answer), language=context.language, drafter=f"openai:{self.model}"
        )

    def _complete(self, context: DraftContext) -> str:
        fence = Fence.new()
        limit = (
            f"A reply may be at most {context.max_chars} characters: stay well within it."
            if context.max_chars
            else "Keep it short enough to read on a phone."
        )
        prompt = render(
            "draft_reply.md",
            brand=self.brand,
            network=context.source,
            limit_rule=limit,
            language=language_name(context.language),
            customer_summary=context.customer_summary or "No record yet.",
            open_fence=fence.open,
            close_fence=fence.close,
            conversation=conversation_block(context.history, fence),
        )
        response = self.client.chat.completions.create(
            model=self.model,
            messages=[
                {"role": "system", "content": prompt},
                {"role": "user", "content": "Write the reply draft."},
            ],
            temperature=0.4,
        )
        text = (response.choices[0].message.content or "").strip() if response.choices else ""
        if not text:
            raise ValueError("empty answer")
        return text


class ClassificationAnswer(BaseModel):
    model_config = ConfigDict(extra="forbid")
    intent: Literal["complaint", "question", "purchase_intent", "praise", "spam", "other"]
    sentiment: Literal["negative", "neutral", "positive"]
    language: str = Field(pattern=r"^[a-z]{2,3}$")
    urgency: int = Field(ge=0, le=2)
    summary: str = Field(max_length=300)


class OpenAIClassifier:
    """Structured output (strict JSON schema) through chat.completions.parse."""

    def __init__(
        self, client: openai.OpenAI, model: str, fallback: Classifier, *, send_pii: bool = False
    ) -> None:
        self.client = client
        self.model = model
        self.fallback = fallback
        self.send_pii = send_pii

    def classify(self, text: str, language_hint: str | None = None) -> Classification:
        masked = text if self.send_pii else mask_all([text[:8000]])[0][0]
        fence = Fence.new()
        prompt = render(
            "classify.md",
            open_fence=fence.open,
            close_fence=fence.close,
            message=masked.replace(fence.open, "").replace(fence.close, ""),
        )
        try:
            response = self.client.chat.completions.parse(
                model=self.model,
                messages=[{"role": "user", "content": prompt}],
                response_format=ClassificationAnswer,
                temperature=0,
            )
            answer = response.choices[0].message.parsed
            if answer is None:
                raise ValueError("no parsed answer")
        except LLM_FAILURES as exc:
            log.warning(
                "LLM classification failed (%s); using the offline classifier", type(exc).__name__
            )
            return self.fallback.classify(text, language_hint)
        return Classification(
            intent=answer.intent,
            sentiment=answer.sentiment,
            language=language_hint or answer.language,
            summary=answer.summary,
            urgency=answer.urgency,
        )
