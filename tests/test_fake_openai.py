"""FakeOpenAI against the real openai client, over real HTTP.

These tests double as executable notes on how openai 3.x behaves (retry-after parsing, which
exception each failure surfaces as), so other tests can rely on those facts.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import openai
import pydantic
import pytest

from tests.fakes.openai import FakeOpenAI

MODEL = "gpt-test"
ClientFactory = Callable[..., openai.OpenAI]


class Triage(pydantic.BaseModel):
    category: str
    urgency: int


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_key="sk-test") as server:
        yield server


@pytest.fixture
def make_client(fake: FakeOpenAI) -> Iterator[ClientFactory]:
    clients: list[openai.OpenAI] = []

    def make(**overrides: Any) -> openai.OpenAI:
        # Strict validation by default: a shape the SDK's pydantic types reject fails loudly
        # instead of being silently constructed with missing fields.
        options: dict[str, Any] = {
            "base_url": fake.base_url,
            "api_key": "sk-test",
            "max_retries": 0,
            "timeout": 5.0,
            "_strict_response_validation": True,
        }
        client = openai.OpenAI(**(options | overrides))
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


def _chat(client: openai.OpenAI, text: str = "hi", **kwargs: Any) -> str | None:
    completion = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": text}], **kwargs
    )
    return completion.choices[0].message.content


# -- happy paths ---------------------------------------------------------------------------


def test_chat_create_returns_scripted_text_and_records_messages(
    fake: FakeOpenAI, make_client: ClientFactory
) -> None:
    fake.script("Routed to billing.")
    messages = [
        {"role": "system", "content": "You triage customer messages."},
        {"role": "user", "content": "My invoice is wrong"},
    ]

    completion = make_client().chat.completions.create(model=MODEL, messages=messages)

    assert completion.choices[0].message.content == "Routed to billing."
    assert completion.choices[0].finish_reason == "stop"
    assert completion.model == MODEL
    request = fake.last_request
    assert (request.method, request.path) == ("POST", "/v1/chat/completions")
    assert request.body["messages"] == messages
    assert request.body["model"] == MODEL


def test_responses_create_gives_output_text_and_records_input(
    fake: FakeOpenAI, make_client: ClientFactory
) -> None:
    fake.script("Looks like a refund request.")

    response = make_client().responses.create(
        model=MODEL, instructions="Be brief.", input="Classify: I want my money back"
    )

    assert response.output_text == "Looks like a refund request."
    assert response.status == "completed"
    assert fake.last_request.path == "/v1/responses"
    assert fake.last_request.body["input"] == "Classify: I want my money back"
    assert fake.last_request.body["instructions"] == "Be brief."


def test_chat_parse_returns_pydantic_instance(fake: FakeOpenAI, make_client: ClientFactory) -> None:
    fake.script({"category": "billing", "urgency": 3})

    completion = make_client().chat.completions.parse(
        model=MODEL, messages=[{"role": "user", "content": "invoice"}], response_format=Triage
    )

    assert completion.choices[0].message.parsed == Triage(category="billing", urgency=3)
    response_format = fake.last_request.body["response_format"]
    assert response_format["type"] == "json_schema"
    assert response_format["json_schema"]["name"] == "Triage"


def test_responses_parse_returns_pydantic_instance(
    fake: FakeOpenAI, make_client: ClientFactory
) -> None:
    fake.script('{"category": "bug", "urgency": 5}')

    response = make_client().responses.parse(model=MODEL, input="crash", text_format=Triage)

    assert response.output_parsed == Triage(category="bug", urgency=5)
    text_format = fake.last_request.body["text"]["format"]
    assert (text_format["type"], text_format["name"]) == ("json_schema", "Triage")


def test_replies_are_consumed_in_order_then_default_answers(
    fake: FakeOpenAI, make_client: ClientFactory
) -> None:
    fake.default_reply = "fallback"
    fake.script("first", lambda body: "echo: " + body["messages"][-1]["content"])
    client = make_client()

    answers = [_chat(client, "a"), _chat(client, "b"), _chat(client, "c")]

    assert answers == ["first", "echo: b", "fallback"]


def test_recorded_requests_redact_the_key_and_expose_prompt_text(
    fake: FakeOpenAI, make_client: ClientFactory
) -> None:
    make_client().chat.completions.create(
        model=MODEL,
        messages=[
            {"role": "system", "content": "Redact PII."},
            {"role": "user", "content": [{"type": "text", "text": "Customer [EMAIL] says hi"}]},
        ],
    )

    request = fake.last_request
    assert request.headers["authorization"] == "<redacted>"
    assert "sk-test" not in json.dumps(request.headers)
    assert request.prompt_text == "Redact PII.\nCustomer [EMAIL] says hi"


def test_models_list_and_chat_streaming(fake: FakeOpenAI, make_client: ClientFactory) -> None:
    client = make_client()
    fake.script("streamed answer text")

    assert [m.id for m in client.models.list()] == ["gpt-fake"]
    chunks = list(
        client.chat.completions.create(
            model=MODEL,
            messages=[{"role": "user", "content": "hi"}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )

    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "streamed answer text"
    pieces = [c.choices[0].delta.content for c in chunks if c.choices]
    assert len([p for p in pieces if p]) > 1  # really split across several chunks
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 3


def test_async_client_works_too(fake: FakeOpenAI) -> None:
    fake.script("async ok")

    async def call() -> str | None:
        async with openai.AsyncOpenAI(
            base_url=fake.base_url, api_key="sk-test", max_retries=0, timeout=5.0
        ) as client:
            completion = await client.chat.completions.create(
                model=MODEL, messages=[{"role": "user", "content": "hi"}]
            )
            return completion.choices[0].message.content

    assert asyncio.run(call()) == "async ok"


@pytest.mark.parametrize(
    "text",
    [
        "سلام، سفارش من کجاست؟ ۱۲۳",  # Persian, with Persian digits
        "我的订单在哪里？请尽快回复。",  # Chinese, full-width punctuation
        "मेरा ऑर्डर कहाँ है? धन्यवाद।",  # Hindi: combining vowel signs must survive
        "Dobrý den, kde je má objednávka? Žluťoučký kůň",  # Czech, precomposed
        "Z\u030cluc\u030couc\u030cky\u0301",  # Czech, decomposed: no NFC normalisation
    ],
    ids=["persian", "chinese", "hindi", "czech", "czech-nfd"],
)
def test_unicode_round_trips_byte_exact(
    fake: FakeOpenAI, make_client: ClientFactory, text: str
) -> None:
    client = make_client()
    fake.script(text, text)

    raw = client.chat.completions.with_raw_response.create(
        model=MODEL, messages=[{"role": "user", "content": text}]
    )
    chat_text = raw.parse().choices[0].message.content
    responses_text = client.responses.create(model=MODEL, input=text).output_text

    assert text.encode("utf-8") in raw.http_response.content  # real UTF-8 on the wire
    assert chat_text is not None and chat_text.encode("utf-8") == text.encode("utf-8")
    assert responses_text.encode("utf-8") == text.encode("utf-8")
    sent = [r.body for r in fake.requests]
    assert sent[0]["messages"][0]["content"] == text
    assert sent[1]["input"] == text


# -- failures ------------------------------------------------------------------------------


def test_wrong_key_raises_authentication_error(
    fake: FakeOpenAI, make_client: ClientFactory
) -> None:
    with pytest.raises(openai.AuthenticationError) as caught:
        _chat(make_client(api_key="sk-wrong"))

    assert caught.value.status_code == 401
    assert caught.value.code == "invalid_api_key"
    assert len(fake.requests) == 1  # rejected requests are recorded too


def test_rate_limit_then_success_honours_fractional_retry_after(
    fake: FakeOpenAI, make_client: ClientFactory
) -> None:
    fake.fail(429, times=1, retry_after=0.05).script("recovered")

    assert _chat(make_client(max_retries=1)) == "recovered"

    first, second = fake.requests
    assert len(fake.requests) == 2
    # Without the header the SDK backs off 0.5 s * jitter(0.75..1) = at least 0.375 s.
    assert 0.05 <= second.received_at - first.received_at < 0.3
    # Each retry carries the retry count, so the server could tell them apart.
    assert second.headers.get("x-stainless-retry-count") == "1"


def test_rate_limit_error_carries_openai_error_json(
    fake: FakeOpenAI, make_client: ClientFactory
) -> None:
    fake.fail(429, retry_after=2)

    with pytest.raises(openai.RateLimitError) as caught:
        _chat(make_client())

    error = caught.value
    assert (error.type, error.code) == ("rate_limit_error", "rate_limit_exceeded")
    assert error.body == {
        "message": "FakeOpenAI injected 429 Too Many Requests",
        "type": "rate_limit_error",
        "param": None,
        "code": "rate_limit_exceeded",
    }
    assert error.response.headers["retry-after"] == "2"


@pytest.mark.parametrize("status", [500, 503])
def test_server_error_without_retries_raises_internal_server_error(
    fake: FakeOpenAI, make_client: ClientFactory, status: int
) -> None:
    fake.fail(status, times=2).script("never reached")

    with pytest.raises(openai.InternalServerError) as caught:
        _chat(make_client(max_retries=0))

    assert caught.value.status_code == status
    assert len(fake.requests) == 1


def test_clear_faults_and_reset_restore_normal_answers(
    fake: FakeOpenAI, make_client: ClientFactory
) -> None:
    client = make_client()
    fake.fail(500, times=5).malformed().script("kept")
    fake.clear_faults()
    assert _chat(client) == "kept"  # clear_faults() leaves the script alone

    fake.script("dropped").fail(500).latency(5)
    fake.reset()
    assert _chat(client) == "OK"
    assert len(fake.requests) == 1  # reset() also forgot the earlier request


def test_hang_longer_than_timeout_raises_api_timeout_error(
    fake: FakeOpenAI, make_client: ClientFactory
) -> None:
    fake.hang(10)
    started = time.monotonic()

    with pytest.raises(openai.APITimeoutError):
        _chat(make_client(timeout=0.5, max_retries=0))

    assert time.monotonic() - started < 3


def test_hang_shorter_than_timeout_drops_connection_and_keeps_script(
    fake: FakeOpenAI, make_client: ClientFactory
) -> None:
    fake.hang(0.1).script("after the hang")
    client = make_client(max_retries=0)

    with pytest.raises(openai.APIConnectionError) as caught:
        _chat(client)

    assert not isinstance(caught.value, openai.APITimeoutError)
    assert _chat(client) == "after the hang"


def test_latency_delays_every_answer(fake: FakeOpenAI, make_client: ClientFactory) -> None:
    fake.latency(0.2)
    started = time.monotonic()

    _chat(make_client())

    assert time.monotonic() - started >= 0.2


@pytest.mark.parametrize("strict", [True, False])
def test_malformed_json_body_raises_raw_json_decode_error(
    fake: FakeOpenAI, make_client: ClientFactory, strict: bool
) -> None:
    fake.malformed()

    # Not wrapped by the SDK: callers must catch ValueError as well as openai.OpenAIError.
    with pytest.raises(json.JSONDecodeError) as caught:
        _chat(make_client(_strict_response_validation=strict))

    assert not isinstance(caught.value, openai.OpenAIError)


def test_non_json_body_is_returned_as_text_unless_strict(
    fake: FakeOpenAI, make_client: ClientFactory
) -> None:
    fake.malformed(times=2, body=b"<html>bad gateway</html>", content_type="text/html")
    messages: Any = [{"role": "user", "content": "hi"}]

    lenient = make_client(_strict_response_validation=False)
    result = lenient.chat.completions.create(model=MODEL, messages=messages)
    assert result == "<html>bad gateway</html>"  # a str where a ChatCompletion was typed

    with pytest.raises(openai.APIResponseValidationError):
        make_client().chat.completions.create(model=MODEL, messages=messages)


@pytest.mark.parametrize("content", ['{"category": "bug", "urg', '{"unexpected": 1}'])
@pytest.mark.parametrize("api", ["chat", "responses"])
def test_malformed_structured_content_makes_parse_raise_pydantic_error(
    fake: FakeOpenAI, make_client: ClientFactory, content: str, api: str
) -> None:
    fake.malformed_json_content(content=content).script({"category": "ok", "urgency": 1})
    client = make_client()

    def parse() -> Triage | None:
        if api == "chat":
            completion = client.chat.completions.parse(
                model=MODEL, messages=[{"role": "user", "content": "x"}], response_format=Triage
            )
            return completion.choices[0].message.parsed
        return client.responses.parse(model=MODEL, input="x", text_format=Triage).output_parsed

    # The SDK hands content straight to pydantic, so it is pydantic's error, not openai's.
    with pytest.raises(pydantic.ValidationError):
        parse()
    assert parse() == Triage(category="ok", urgency=1)  # the fault did not eat the script


def test_stop_closes_the_port(make_client: ClientFactory) -> None:
    server = FakeOpenAI().start()
    client = make_client(base_url=server.base_url)
    assert _chat(client) == "OK"

    server.stop()

    with pytest.raises(openai.APIConnectionError):
        _chat(client)
