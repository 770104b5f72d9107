"""``promptsales mcp ...``: serve the MCP server, load content, seed the library."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from mcp_server.content_model import ContentItem

app = typer.Typer(help="The MCP server and its content library.", no_args_is_help=True)


class Transport(StrEnum):
    http = "http"
    stdio = "stdio"


@app.command()
def serve(
    transport: Annotated[Transport, typer.Option(help="http (streamable HTTP) or stdio")] = (
        Transport.http
    ),
) -> None:
    """Run the server (settings from PROMPTSALES_MCP_* and the mounted Secret files)."""
    from mcp_server.app import build_application, serve_http
    from mcp_server.config import load_mcp_settings
    from promptsales.logs import configure_logging

    settings = load_mcp_settings()
    # Before the SDK is constructed: its own set-up only adds a handler when none exists,
    # so the platform's JSON lines (with redaction) win.
    configure_logging(settings.log_level)
    application = build_application(settings, transport=transport.value)
    if transport is Transport.stdio:
        asyncio.run(application.mcp.run_stdio_async())
    else:
        asyncio.run(serve_http(application))


def _load(items_source: str, items: Iterable[ContentItem], batch_size: int) -> None:
    from mcp_server.config import load_mcp_settings
    from mcp_server.content.loader import load_content
    from mcp_server.content.store import ContentStore
    from mcp_server.search.embeddings import build_embedder

    settings = load_mcp_settings()
    store = ContentStore.connect(
        settings.mongo_uri.get_secret_value(), settings.mongo_db, settings.content_collection
    )
    try:
        embedder = build_embedder(settings, batch=True)
        report = load_content(
            store,
            embedder,
            items,
            batch_size=batch_size,
            progress=lambda n: typer.echo(f"{items_source}: {n} items written", err=True),
        )
        if settings.vector_backend == "mongo" and store.ensure_vector_index(
            embedder.dimensions, settings.vector_index_name
        ):
            # The server searches with $vectorSearch: the index is ours to create; mongot
            # builds it in the background and servers stay unready until it is queryable.
            typer.echo(f"created the vector search index {settings.vector_index_name}")
    finally:
        store.close()
    typer.echo(
        f"loaded {report.items} items ({report.embedded_texts} texts embedded with "
        f"{report.model_id}); content version {report.version}"
    )


@app.command("load-content")
def load_content_command(
    path: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="JSON-lines file")],
    batch_size: Annotated[int, typer.Option(min=1, max=10_000)] = 500,
) -> None:
    """Embed and upsert items from a JSON-lines file (one documented item per line)."""
    from mcp_server.content.loader import ContentFileError, read_jsonl

    try:
        _load(str(path), list(read_jsonl(path)), batch_size)
    except ContentFileError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


@app.command("seed-content")
def seed_content(
    generated: Annotated[
        int, typer.Option(min=0, max=1_000_000, help="Also add N generated items (benchmark)")
    ] = 0,
    batch_size: Annotated[int, typer.Option(min=1, max=10_000)] = 1000,
) -> None:
    """Load the 100-image seed set (and optionally N generated items)."""
    from itertools import chain

    from mcp_server.content.seed import generated_items, seed_items

    items = chain(seed_items(), generated_items(generated))
    _load("seed set", items, batch_size)
