"""Drives Rook (or a fake upstream) with the official `openai` Python SDK.

    python3 openai_client.py BASE_URL API_KEY MODEL COMMAND [COMMAND ...]

BASE_URL is the OpenAI-style base (`http://127.0.0.1:PORT/v1`). Runs each
COMMAND in order and prints one JSON object `{COMMAND: result}` on stdout
(a repeated command is keyed `COMMAND#2`, ...).
An API error becomes `{"error": {"status", "body", "message"}}` for that
command (the SDK's `body` is the `error` object of the response); any other
exception ends the script with a traceback and a non-zero exit. The SDK does
not retry (max_retries=0): retries and failover are Rook's job here.
"""

import json
import sys

import openai

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}

MESSAGES = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "Say hi"},
]

TOOL_ROUND_TRIP = [
    {"role": "user", "content": "Weather in Paris?"},
    {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
            }
        ],
    },
    {"role": "tool", "tool_call_id": "call_1", "content": "18C and sunny"},
]


def usage(u):
    return None if u is None else u.model_dump(exclude_none=True)


def tool_calls(calls):
    return [
        {"id": c.id, "name": c.function.name, "arguments": json.loads(c.function.arguments)}
        for c in calls or []
    ]


def chat(client, model, messages=MESSAGES, **kw):
    r = client.chat.completions.create(model=model, messages=messages, **kw)
    choice = r.choices[0]
    return {
        "id": r.id,
        "model": r.model,
        "content": choice.message.content,
        "finish_reason": choice.finish_reason,
        "tool_calls": tool_calls(choice.message.tool_calls),
        "usage": usage(r.usage),
    }


def chat_stream(client, model, messages=MESSAGES, **kw):
    stream = client.chat.completions.create(
        model=model,
        messages=messages,
        stream=True,
        stream_options={"include_usage": True},
        **kw,
    )
    content, finish, last_usage, chunks, calls = "", None, None, 0, {}
    for chunk in stream:
        chunks += 1
        if chunk.usage is not None:
            last_usage = usage(chunk.usage)
        for choice in chunk.choices:
            delta = choice.delta
            content += delta.content or ""
            for tc in delta.tool_calls or []:
                call = calls.setdefault(tc.index, {"id": None, "name": "", "arguments": ""})
                call["id"] = tc.id or call["id"]
                if tc.function is not None:
                    call["name"] += tc.function.name or ""
                    call["arguments"] += tc.function.arguments or ""
            finish = choice.finish_reason or finish
    return {
        "content": content,
        "finish_reason": finish,
        "usage": last_usage,
        "chunks": chunks,
        "tool_calls": [
            {"id": c["id"], "name": c["name"], "arguments": json.loads(c["arguments"])}
            for _, c in sorted(calls.items())
        ],
    }


def embeddings(client, model, **kw):
    r = client.embeddings.create(model=model, input=["alpha", "beta"], **kw)
    return {
        "model": r.model,
        "vectors": [d.embedding for d in r.data],
        "indexes": [d.index for d in r.data],
        "usage": usage(r.usage),
    }


def responses(client, model):
    r = client.responses.create(model=model, input="Say hi")
    return {
        "id": r.id,
        "status": r.status,
        "model": r.model,
        "output_text": r.output_text,
        "usage": usage(r.usage),
    }


def responses_stream(client, model):
    stream = client.responses.create(model=model, input="Say hi", stream=True)
    types, deltas, final = [], "", None
    for event in stream:
        types.append(event.type)
        if event.type == "response.output_text.delta":
            deltas += event.delta
        if event.type == "response.completed":
            final = event.response
    return {
        "types": types,
        "deltas": deltas,
        "output_text": None if final is None else final.output_text,
        "status": None if final is None else final.status,
        "usage": None if final is None else usage(final.usage),
    }


def model_info(client, model):
    m = client.models.retrieve(model)
    return {"id": m.id, "object": m.object, "owned_by": m.owned_by}


def completions(client, model):
    r = client.completions.create(model=model, prompt="Say hi", max_tokens=16)
    return {
        "object": r.object,
        "text": r.choices[0].text,
        "finish_reason": r.choices[0].finish_reason,
        "usage": usage(r.usage),
    }


COMMANDS = {
    "chat": lambda c, m: chat(c, m),
    "chat_stream": lambda c, m: chat_stream(c, m),
    "tools": lambda c, m: chat(c, m, tools=[WEATHER_TOOL]),
    "tools_stream": lambda c, m: chat_stream(c, m, tools=[WEATHER_TOOL]),
    "tool_result": lambda c, m: chat(c, m, messages=TOOL_ROUND_TRIP, tools=[WEATHER_TOOL]),
    "embeddings": lambda c, m: embeddings(c, m),  # the SDK's default: base64
    "embeddings_float": lambda c, m: embeddings(c, m, encoding_format="float"),
    "responses": responses,
    "responses_stream": responses_stream,
    "model": model_info,
    "completions": completions,
}


def main():
    if len(sys.argv) < 5 or any(c not in COMMANDS for c in sys.argv[4:]):
        sys.exit(f"usage: {sys.argv[0]} BASE_URL API_KEY MODEL COMMAND... ({', '.join(COMMANDS)})")
    base_url, api_key, model = sys.argv[1:4]
    client = openai.OpenAI(base_url=base_url, api_key=api_key, max_retries=0, timeout=30)
    out = {}
    for command in sys.argv[4:]:
        # A repeated command's results are keyed `command#2`, `command#3`...
        key, n = command, 1
        while key in out:
            n += 1
            key = f"{command}#{n}"
        try:
            out[key] = COMMANDS[command](client, model)
        except openai.APIStatusError as e:
            out[key] = {"error": {"status": e.status_code, "body": e.body, "message": str(e)}}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
