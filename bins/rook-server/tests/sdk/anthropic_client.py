"""Drives Rook's `/v1/messages` (or a fake upstream) with the official
`anthropic` Python SDK.

    python3 anthropic_client.py BASE_URL API_KEY MODEL COMMAND [COMMAND ...]

BASE_URL is the origin (`http://127.0.0.1:PORT`; the SDK appends
`/v1/messages`). The key is sent as `x-api-key`. Runs each COMMAND in order
and prints one JSON object `{COMMAND: result}` on stdout (a repeated command
is keyed `COMMAND#2`, ...). An API error
becomes `{"error": {"status", "body", "message"}}` (the SDK's `body` is the
whole response body); any other exception ends the script with a traceback
and a non-zero exit. The SDK does not retry (max_retries=0).
"""

import json
import sys

import anthropic

WEATHER_TOOL = {
    "name": "get_weather",
    "description": "Current weather for a city",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}

BASIC = {
    "max_tokens": 256,
    "system": "You are terse.",
    "messages": [{"role": "user", "content": "Say hi"}],
}

# Fields an OpenAI account could not take (top_k) but a pass-through must keep;
# this SDK version no longer models sampling parameters, so they go in
# `extra_body` (sent as top-level fields).
RICH = {
    "max_tokens": 300,
    "system": [{"type": "text", "text": "You are terse."}],
    "messages": [
        {"role": "user", "content": [{"type": "text", "text": "Say hi"}]},
        {"role": "assistant", "content": "Hi."},
        {"role": "user", "content": "Again"},
    ],
    "extra_body": {"temperature": 0.2, "top_k": 5},
    "stop_sequences": ["END"],
    "metadata": {"user_id": "user-7"},
}


def blocks(content):
    return [b.model_dump(exclude_none=True) for b in content]


def message(m):
    return {
        "id": m.id,
        "type": m.type,
        "role": m.role,
        "model": m.model,
        "content": blocks(m.content),
        "text": "".join(b.text for b in m.content if b.type == "text"),
        "stop_reason": m.stop_reason,
        "usage": m.usage.model_dump(exclude_none=True),
    }


def create(client, model, **params):
    return message(client.messages.create(model=model, **params))


def stream(client, model, **params):
    types, texts = [], []
    with client.messages.stream(model=model, **params) as s:
        for event in s:
            types.append(event.type)
            if event.type == "text":
                texts.append(event.text)
        final = s.get_final_message()
    out = message(final)
    out["types"] = types
    out["texts"] = texts
    return out


def count_tokens(client, model):
    r = client.messages.count_tokens(model=model, messages=BASIC["messages"], system=BASIC["system"])
    return {"input_tokens": r.input_tokens}


COMMANDS = {
    "messages": lambda c, m: create(c, m, **BASIC),
    "stream": lambda c, m: stream(c, m, **BASIC),
    "rich": lambda c, m: create(c, m, **RICH),
    "rich_stream": lambda c, m: stream(c, m, **RICH),
    "tools": lambda c, m: create(c, m, tools=[WEATHER_TOOL], **BASIC),
    "tools_stream": lambda c, m: stream(c, m, tools=[WEATHER_TOOL], **BASIC),
    "count_tokens": count_tokens,
}


def main():
    if len(sys.argv) < 5 or any(c not in COMMANDS for c in sys.argv[4:]):
        sys.exit(f"usage: {sys.argv[0]} BASE_URL API_KEY MODEL COMMAND... ({', '.join(COMMANDS)})")
    base_url, api_key, model = sys.argv[1:4]
    client = anthropic.Anthropic(base_url=base_url, api_key=api_key, max_retries=0, timeout=30)
    out = {}
    for command in sys.argv[4:]:
        # A repeated command's results are keyed `command#2`, `command#3`...
        key, n = command, 1
        while key in out:
            n += 1
            key = f"{command}#{n}"
        try:
            out[key] = COMMANDS[command](client, model)
        except anthropic.APIStatusError as e:
            out[key] = {"error": {"status": e.status_code, "body": e.body, "message": str(e)}}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
