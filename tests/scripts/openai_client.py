"""rota serve as the official `openai` Python package sees it.

Run by tests/serve_openai.rs against a `rota serve` over the simulated fleet:

    python openai_client.py BASE_URL TOKEN AUDIO_FILE

Each check prints `ok <name>` or raises (non-zero exit, the traceback on stderr). The
fleet is the test's: `rota/fast` answers, `rota/tools` is not a pool, `groq/tooly` calls
tools when offered them, `groq/busy` takes one request a minute (rota knows).
"""

import json
import sys

import openai
from openai import OpenAI


def main() -> None:
    base, token, audio = sys.argv[1], sys.argv[2], sys.argv[3]
    client = OpenAI(base_url=base, api_key=token, max_retries=0, timeout=60)

    ids = [m.id for m in client.models.list()]
    assert "rota/auto" in ids and "rota/fast" in ids, ids
    assert "groq/tooly" in ids, ids
    print("ok models", flush=True)

    r = client.chat.completions.create(
        model="rota/fast",
        messages=[{"role": "user", "content": "hello from the openai package"}],
        temperature=0.2,
        seed=7,
        max_tokens=40,
    )
    assert r.choices[0].message.content, r
    assert r.choices[0].finish_reason in ("stop", "length"), r
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens, r.usage
    assert r.model.startswith("groq/"), r.model
    print("ok chat", flush=True)

    raw = client.chat.completions.with_raw_response.create(
        model="rota/fast", messages=[{"role": "user", "content": "which model?"}]
    )
    assert raw.headers.get("x-rota-provider") == "groq", dict(raw.headers)
    assert raw.headers.get("x-rota-attempts") == "1", dict(raw.headers)
    print("ok headers", flush=True)

    pieces, finish, usage = [], None, None
    stream = client.chat.completions.create(
        model="fast",
        messages=[{"role": "user", "content": "stream please"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    for chunk in stream:
        if chunk.usage is not None:
            usage = chunk.usage
        for c in chunk.choices:
            if c.delta.content:
                pieces.append(c.delta.content)
            if c.finish_reason:
                finish = c.finish_reason
    assert len(pieces) > 1 and finish == "stop", (pieces, finish)
    assert usage is not None and usage.completion_tokens > 0, usage
    print("ok stream", flush=True)

    tools = [{
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "The weather in a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                           "required": ["city"]},
        },
    }]
    history = [{"role": "user", "content": "weather in Paris?"}]
    r = client.chat.completions.create(model="groq/tooly", messages=history, tools=tools)
    calls = r.choices[0].message.tool_calls
    assert r.choices[0].finish_reason == "tool_calls" and calls, r
    json.loads(calls[0].function.arguments)
    history.append(r.choices[0].message.model_dump(exclude_none=True))
    for c in calls:
        history.append({"role": "tool", "tool_call_id": c.id, "content": "sunny, 21 C"})
    r = client.chat.completions.create(model="groq/tooly", messages=history, tools=tools)
    assert r.choices[0].message.content and r.choices[0].finish_reason == "stop", r
    # The same round trip streamed: the calls arrive in pieces and assemble.
    args, name = "", None
    for chunk in client.chat.completions.create(
        model="groq/tooly", messages=history[:1], tools=tools, stream=True
    ):
        for c in chunk.choices:
            for tc in c.delta.tool_calls or []:
                name = tc.function.name or name
                args += tc.function.arguments or ""
    assert name == "get_weather", name
    json.loads(args)
    print("ok tools", flush=True)

    with open(audio, "rb") as f:
        t = client.audio.transcriptions.create(model="whisper-1", file=f)
    assert t.text, t
    print("ok transcription", flush=True)

    try:
        client.chat.completions.create(model="rota/nope", messages=[{"role": "user", "content": "x"}])
        raise AssertionError("an unknown model must fail")
    except openai.NotFoundError as e:
        assert "rota/fast" in str(e), e
    print("ok unknown_model", flush=True)

    busy = client.with_options(default_headers={"x-rota-max-wait": "0"})
    busy.chat.completions.create(model="groq/busy", messages=[{"role": "user", "content": "one"}])
    try:
        busy.chat.completions.create(model="groq/busy", messages=[{"role": "user", "content": "two"}])
        raise AssertionError("a full minute must answer 429")
    except openai.RateLimitError as e:
        retry = int(e.response.headers.get("retry-after", "0"))
        assert 1 <= retry <= 61, e.response.headers
        assert e.response.headers.get("retry-after-ms"), e.response.headers
    print("ok rate_limited", flush=True)

    try:
        OpenAI(base_url=base, api_key="wrong", max_retries=0).models.list()
        raise AssertionError("a wrong token must fail")
    except openai.AuthenticationError:
        pass
    print("ok unauthorized", flush=True)


if __name__ == "__main__":
    main()
