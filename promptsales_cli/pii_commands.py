"""``promptsales pii ...``: create keyrings and rotate or retire keys.

Commands print ids and counts only; key material goes to files with mode 0600, never to
stdout. Exit code 1 with one ``error:`` line on any key problem.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from etl_job.settings import load_etl_settings
from promptsales.pii import rotation
from promptsales.pii.errors import PiiError
from promptsales.pii.keyring import (
    generate_keyring,
    load_keyring,
    with_new_kek,
    without_kek,
    write_keyring,
)
from promptsales.pii.settings import load_pii_settings

app = typer.Typer(help="Customer PII keys: keyring, rotation, retirement.", no_args_is_help=True)
keyring_app = typer.Typer(help="Edit a keyring file (the content of the keyring Secret).")
app.add_typer(keyring_app, name="keyring")

FileOption = Annotated[Path, typer.Option("--file", help="Keyring JSON file.")]


@contextmanager
def _errors() -> Iterator[None]:
    try:
        yield
    except PiiError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None


def _warehouse_dsn() -> str:
    return load_etl_settings().warehouse_dsn.get_secret_value()


def _emit(payload: dict[str, object]) -> None:
    typer.echo(json.dumps(payload, separators=(",", ":")))


@keyring_app.command("create")
def keyring_create(
    file: FileOption,
    force: Annotated[bool, typer.Option(help="Overwrite an existing file.")] = False,
) -> None:
    """Write a new keyring (one KEK, an HMAC key) to FILE with mode 0600."""
    if file.exists() and not force:
        typer.echo(f"error: {file} exists; pass --force to replace it", err=True)
        raise typer.Exit(1)
    keyring = generate_keyring()
    write_keyring(keyring, file)
    _emit({"event": "keyring-create", "file": str(file), "active_kek_id": keyring.active_kek_id})


@keyring_app.command("add-kek")
def keyring_add_kek(
    file: FileOption,
    activate: Annotated[bool, typer.Option(help="Make the new KEK the active one.")] = True,
) -> None:
    """Add a fresh KEK to FILE (old KEKs stay so existing data keys can be unwrapped)."""
    with _errors():
        keyring, kek_id = with_new_kek(load_keyring(file), activate=activate)
        write_keyring(keyring, file)
    _emit({"event": "keyring-add-kek", "kek_id": kek_id, "active_kek_id": keyring.active_kek_id})


@keyring_app.command("remove-kek")
def keyring_remove_kek(
    file: FileOption,
    kek_id: Annotated[str, typer.Option(help="KEK id to remove.")],
) -> None:
    """Remove a KEK from FILE, refusing while any data key in the warehouse is wrapped by it."""
    with _errors():
        keyring = load_keyring(file)
        rotation.ensure_kek_unused(_warehouse_dsn(), kek_id)
        write_keyring(without_kek(keyring, kek_id), file)
    _emit({"event": "keyring-remove-kek", "kek_id": kek_id})


@app.command("rotate-kek")
def rotate_kek() -> None:
    """Re-wrap all data keys under the keyring's active KEK (no row is re-encrypted)."""
    with _errors():
        keyring = load_keyring(load_pii_settings().keyring_file)
        changed = rotation.rotate_kek(_warehouse_dsn(), keyring)
    _emit({"event": "rotate-kek", "active_kek_id": keyring.active_kek_id, "rewrapped": changed})


@app.command("rotate-dek")
def rotate_dek(
    batch_rows: Annotated[int | None, typer.Option(min=1, help="Rows per transaction.")] = None,
) -> None:
    """Re-encrypt customers under a new data key in batches; rerun to resume after a crash."""
    settings = load_pii_settings()

    def progress(done: int, total: int) -> None:
        typer.echo(f"re-encrypted {done}/{total}", err=True)

    with _errors():
        keyring = load_keyring(settings.keyring_file)
        result = rotation.rotate_dek(
            _warehouse_dsn(),
            keyring,
            batch_rows=batch_rows or settings.rotation_batch_rows,
            progress=progress,
        )
    _emit(
        {
            "event": "rotate-dek",
            "active_key_id": result.active_key_id,
            "new_key_created": result.new_key_created,
            "rows_reencrypted": result.rows_reencrypted,
            "retired_key_ids": list(result.retired_key_ids),
        }
    )


@app.command("retire")
def retire() -> None:
    """Retire data keys no row uses; list KEKs no data key uses (safe to remove)."""
    with _errors():
        dsn = _warehouse_dsn()
        retired = rotation.retire_unused(dsn)
        usage = rotation.kek_usage(dsn)
        keyring = load_keyring(load_pii_settings().keyring_file)
    unused = sorted(k for k in keyring.keks if k not in usage and k != keyring.active_kek_id)
    _emit({"event": "retire", "retired_key_ids": list(retired), "unused_kek_ids": unused})
