"""A small local OpenAI-compatible server (embeddings, chat completions) plus a JWKS URL.

It is a test double for the remote API only: the MCP server talks to it through the real
``openai`` client over HTTP. Embeddings are bag-of-words hashes (similar texts get
similar vectors); chat answers are built from the grounding the request carried, with
one deliberately over-long body so channel limits are exercised.
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
        grounding = json.loads(body["messages"][-1]["content"])
        ids = [item["id"] for item in grounding["content_items"]]
        variants = []
        for n in range(grounding["count"]):
            variants.append(
                {
                    "subject": f"Model subject {n} for {grounding['segment']}",
                    "body": ("Model-written message " * (40 if n == 0 else 2)).strip(),
                    "content_ids": [*ids[:1], "invented-id"],
                }
            )
        content = json.dumps({"variants": variants})
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
