"""A small local OpenAI-compatible server (embeddings, chat completions) plus a JWKS URL.

It is a test double for the remote API only: the MCP server talks to it through the real
``openai`` client over HTTP. Embeddings are bag-of-words hashes (similar texts get
similar vectors). Chat answers are built from the grounding the request carried; the
``chat_mode`` decides how good they are: ``good`` (valid, except an over-long first body
and an invented content id in the first answer), ``malformed`` (not JSON), ``oversized``
(JSON far beyond any valid answer), ``hostile`` (invented figures and ids, copied asset
descriptions), ``no_schema`` (refuses ``json_schema`` response formats with a 400, as
some servers do, then answers like ``good``).
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from harness.services import free_port

DIMENSIONS = 32


def hashed_embedding(text: str, dims: int = DIMENSIONS) -> list[float]:
    vector = np.zeros(dims, dtype=np.float64)
    for word in text.lower().split():
        digest = hashlib.sha256(word.strip(".,!?").encode()).digest()
        vector[digest[0] % dims] += 1.0 if digest[1] % 2 else -1.0
    norm = float(np.linalg.norm(vector)) or 1.0
    return [float(x) / norm for x in vector]


@dataclass
class StubState:
    requests: list[dict[str, Any]] = field(default_factory=list)
    jwks: dict[str, Any] = field(default_factory=lambda: {"keys": []})
    fail_chat: bool = False
    chat_mode: str = "good"
    chat_calls: int = 0


def build_app(state: StubState) -> Starlette:
    async def embeddings(request: Request) -> JSONResponse:
        body = await request.json()
        state.requests.append({"path": "embeddings", "auth": request.headers.get("authorization")})
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        data = [
            {"object": "embedding", "index": i, "embedding": hashed_embedding(text)}
            for i, text in enumerate(inputs)
        ]
        return JSONResponse(
            {
                "object": "list",
                "data": data,
                "model": body["model"],
                "usage": {"prompt_tokens": 1, "total_tokens": 1},
            }
        )

    async def chat(request: Request) -> JSONResponse:
        body = await request.json()
        state.requests.append({"path": "chat", "body": body})
        if state.fail_chat:
            return JSONResponse({"error": {"message": "overloaded"}}, status_code=503)
        schema_format = body.get("response_format", {}).get("type") == "json_schema"
        if state.chat_mode == "no_schema" and schema_format:
            return JSONResponse({"error": {"message": "json_schema unsupported"}}, status_code=400)
        state.chat_calls += 1
        grounding = json.loads(body["messages"][-1]["content"])
        content = _chat_content(state, grounding)
        return JSONResponse(
            {
                "id": "chatcmpl-test",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body["model"],
                "choices": [
                    {
                        "index": 0,
                        "finish_reason": "stop",
                        "message": {"role": "assistant", "content": content},
                    }
                ],
                "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
            }
        )

    async def jwks(_request: Request) -> JSONResponse:
        return JSONResponse(state.jwks)

    return Starlette(
        routes=[
            Route("/v1/embeddings", embeddings, methods=["POST"]),
            Route("/v1/chat/completions", chat, methods=["POST"]),
            Route("/jwks.json", jwks, methods=["GET"]),
        ]
    )


_WORDS = ("one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")


def _chat_content(state: StubState, grounding: dict[str, Any]) -> str:
    if state.chat_mode == "malformed":
        return '{"variants": [{"body": "unterminated'
    if state.chat_mode == "oversized":
        return json.dumps({"variants": [{"body": "x" * 100_000}]})
    items = grounding["content_items"]
    ids = [item["id"] for item in items]
    clicks = grounding["kpis"]["totals"].get("clicks")
    first = state.chat_calls == 1
    variants = []
    for n in range(grounding["count"]):
        product = items[n % len(items)]["product"] if items else "our collection"
        if state.chat_mode == "hostile":
            variants.append(
                {
                    "subject": None,
                    "preheader": None,
                    "body": f"{grounding['segment']}: 50% off {product} for 3 days only!",
                    "cta": None,
                    "hashtags": [],
                    "content_ids": ["img-9999"],
                    "kpis": ["revenue_per_visitor"],
                }
            )
            continue
        long = first and n == 0
        word = _WORDS[n]
        text = f"{grounding['segment']}, take {word}: {product}. {clicks} clicks so far."
        variants.append(
            {
                "subject": f"For {grounding['segment']}: pick {word}",
                "preheader": f"{product}, chosen for {grounding['segment']}",
                "body": ("Model-written message " * 40).strip() if long else text,
                "cta": "Take a look",
                "hashtags": [],
                "content_ids": [*ids[:1], "invented-id"] if first else ids[:1],
                "kpis": ["clicks"],
            }
        )
    return json.dumps({"variants": variants})


@contextmanager
def openai_compatible_server() -> Iterator[tuple[str, StubState]]:
    """Serve on a free port in a thread; yields (base URL, recorded state)."""
    state = StubState()
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(build_app(state), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("OpenAI-compatible test server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}", state
    finally:
        server.should_exit = True
        thread.join(timeout=10)
