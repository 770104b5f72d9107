"""Least data per role (issue 8 item 4): decrypted contacts only for sales on its own
campaign, aggregates and content for marketing, nothing personal for plain users."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import psycopg
import pytest

from mcp_server.content.store import ContentStore
from promptsales.pii.cipher import PiiCipher
from promptsales.pii.datakeys import ensure_active_key
from promptsales.pii.keyring import generate_keyring, write_keyring
from tests.integration.mcp.conftest import Pki, TokenIssuer, error_text, mcp_client, payload, serve

CUSTOMERS = {
    1: (
        "1001",
        {
            "first_name": "Ana",
            "last_name": "Silva",
            "email": "ana.silva@example.test",
            "phone": "+351 555 0101",
            "street": "Rua Augusta 1",
            "city": "Lisboa",
            "postal_code": "1100-048",
            "birth_date": "1990-04-01",
        },
    ),
    2: (
        "1001",
        {
            "first_name": "Ben",
            "last_name": "Okafor",
            "email": "ben.okafor@example.test",
            "phone": "+44 555 0102",
            "street": "1 High St",
            "city": "Leeds",
            "postal_code": "LS1 1AA",
            "birth_date": "1985-09-12",
        },
    ),
    3: (
        "1002",
        {
            "first_name": "Chen",
            "last_name": "Wei",
            "email": "chen.wei@example.test",
            "phone": "+86 555 0103",
            "street": "2 Nanjing Rd",
            "city": "Shanghai",
            "postal_code": "200000",
            "birth_date": "1979-01-30",
        },
    ),
}
PERSONAL_MARKERS = ("example.test", "Silva", "Okafor", "555 01", "Rua Augusta", "1990-04-01")


@pytest.fixture
def pii_warehouse(warehouse_dsn: str, tmp_path: Path) -> tuple[str, Path]:
    keyring = generate_keyring()
    keyring_file = tmp_path / "keyring.json"
    write_keyring(keyring, keyring_file)
    ensure_active_key(warehouse_dsn, keyring)
    today = dt.datetime.now(dt.UTC).date()
    with psycopg.connect(warehouse_dsn) as conn:
        cipher = PiiCipher.load(conn, keyring)
        conn.execute(
            "SELECT warehouse.ensure_month_partitions('fact_lead', %s, %s)",
            (today - dt.timedelta(days=40), today),
        )
        for customer_id, (campaign, fields) in CUSTOMERS.items():
            key_id, blob = cipher.encrypt(fields)
            conn.execute(
                "INSERT INTO warehouse.dim_customer (customer_id, email_hmac, pii_key_id, "
                "pii_ciphertext, country, created_day, source_version) "
                "VALUES (%s, %s, %s, %s, 'PT', %s, 1)",
                (customer_id, cipher.email_hmac(fields["email"]), key_id, blob, today),
            )
            conn.execute(
                "INSERT INTO warehouse.fact_lead (day, lead_id, customer_id, campaign_id, status, "
                "created_at, source_version) VALUES (%s, %s, %s, %s, 'qualified', now(), 1)",
                (
                    today - dt.timedelta(days=customer_id),
                    100 + customer_id,
                    customer_id,
                    int(campaign),
                ),
            )
    return warehouse_dsn, keyring_file


@pytest.fixture
def pii_settings(settings_factory: Any, pii_warehouse: tuple[str, Path]) -> Any:
    dsn, keyring_file = pii_warehouse
    return settings_factory(warehouse_dsn=dsn, pii_keyring_file=keyring_file)


async def test_sales_certificate_gets_decrypted_contacts_of_its_campaign_only(
    seeded_store: ContentStore, pii_settings: Any, app_factory: Any, pki: Pki
) -> None:
    async with (
        serve(app_factory(pii_settings)) as server,
        mcp_client(server, cert=pki.client_files("sales", "1001")) as client,
    ):
        own = await client.call_tool("getCampaignContacts", {"campaign_id": "1001"})
        other = await client.call_tool("getCampaignContacts", {"campaign_id": "1002"})
    assert not own.is_error, own.content
    contacts = payload(own)["contacts"]
    assert [c["email"] for c in contacts] == ["ana.silva@example.test", "ben.okafor@example.test"]
    assert contacts[0]["phone"] == "+351 555 0101"
    # Contact fields only: no street, postal code or birth date leave the server.
    text = json.dumps(payload(own))
    assert "Rua Augusta" not in text
    assert "1990-04-01" not in text
    assert "1100-048" not in text
    assert other.is_error


@pytest.mark.parametrize(
    ("role", "campaign", "reason"),
    [
        ("sales", None, "scoped to this campaign"),
        ("sales", "1002", "scoped to this campaign"),
        ("marketing", "1001", "may not call getCampaignContacts"),
        ("user", "1001", "may not call getCampaignContacts"),
    ],
)
async def test_contacts_refused_without_sales_scope_on_that_campaign(
    role: str,
    campaign: str | None,
    reason: str,
    seeded_store: ContentStore,
    pii_settings: Any,
    app_factory: Any,
    tokens: TokenIssuer,
) -> None:
    async with (
        serve(app_factory(pii_settings)) as server,
        mcp_client(server, token=tokens.token(role, campaign)) as client,
    ):
        result = await client.call_tool("getCampaignContacts", {"campaign_id": "1001"})
    assert result.is_error
    assert reason in error_text(result)
    assert "example.test" not in error_text(result)


@pytest.mark.parametrize("role", ["marketing", "user"])
async def test_other_tools_never_return_personal_data(
    role: str,
    seeded_store: ContentStore,
    pii_settings: Any,
    app_factory: Any,
    tokens: TokenIssuer,
) -> None:
    today = dt.datetime.now(dt.UTC).date()
    async with (
        serve(app_factory(pii_settings)) as server,
        mcp_client(server, token=tokens.token(role, "1001")) as client,
    ):
        results = [
            await client.call_tool("getContent", {"query": "customer"}),
            await client.call_tool(
                "getCampaignPerformance",
                {
                    "campaign_id": "1001",
                    "date_from": (today - dt.timedelta(days=30)).isoformat(),
                    "date_to": today.isoformat(),
                },
            ),
            await client.call_tool(
                "generateCampaignMessages",
                {"campaign_id": "1001", "segment": "loyal customers", "channel": "email"},
            ),
        ]
    for result in results:
        text = json.dumps(result.model_dump(mode="json"))
        for marker in PERSONAL_MARKERS:
            assert marker not in text
