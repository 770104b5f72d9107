"""Campaign-scoped customer contacts for the sales role, decrypted on the way out.

Least data even here: only contact fields (name, email, phone, city) leave the server,
never address, postal code or birth date, and only for customers with a lead or a
conversion in the caller's own campaign. Decryption uses the platform's PII library
(:class:`promptsales.pii.cipher.PiiCipher`), so the keyring stays the ETL's format and
rotation story. Answers are never put in the Redis cache: plaintext personal data
must not sit in a shared cache.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
from pydantic import BaseModel

from mcp_server.sources.warehouse import WarehouseError, warehouse_campaign_id
from promptsales.pii.cipher import PiiCipher
from promptsales.pii.errors import PiiError
from promptsales.pii.keyring import load_keyring

CONTACT_FIELDS = ("first_name", "last_name", "email", "phone", "city")

# Customers touching the campaign, most recent first (leads and conversions).
SQL_CONTACTS = """
WITH touch AS (
    SELECT customer_id, day, status FROM warehouse.fact_lead WHERE campaign_id = %(cid)s
    UNION ALL
    SELECT customer_id, day, 'converted' FROM warehouse.fact_conversion
    WHERE campaign_id = %(cid)s
), latest AS (
    SELECT DISTINCT ON (customer_id) customer_id, day, status
    FROM touch ORDER BY customer_id, day DESC
)
SELECT c.customer_id, c.pii_key_id, c.pii_ciphertext, c.country, l.day, l.status
FROM latest l JOIN warehouse.dim_customer c USING (customer_id)
ORDER BY l.day DESC, c.customer_id
LIMIT %(limit)s
"""


class Contact(BaseModel):
    customer_id: int
    first_name: str | None
    last_name: str | None
    email: str | None
    phone: str | None
    city: str | None
    country: str
    status: str
    last_activity: str


class ContactsRepository:
    def __init__(self, dsn: str, keyring_file: Path) -> None:
        self._dsn = dsn
        self._keyring_file = keyring_file

    def contacts(self, campaign_id: str, limit: int) -> list[Contact]:
        """Blocking (run it in a thread): read, then decrypt only the contact fields."""
        params: dict[str, Any] = {"cid": warehouse_campaign_id(campaign_id), "limit": limit}
        try:
            keyring = load_keyring(self._keyring_file)
            with psycopg.connect(self._dsn, connect_timeout=5) as conn:
                cipher = PiiCipher.load(conn, keyring)
                rows = conn.execute(SQL_CONTACTS, params).fetchall()
                out = []
                for customer_id, key_id, blob, country, day, status in rows:
                    fields = cipher.decrypt(key_id, blob)
                    picked = {name: fields.get(name) for name in CONTACT_FIELDS}
                    out.append(
                        Contact(
                            customer_id=customer_id,
                            country=country,
                            status=status,
                            last_activity=day.isoformat(),
                            **picked,
                        )
                    )
                return out
        except psycopg.Error as exc:
            raise WarehouseError(f"warehouse query failed: {type(exc).__name__}") from None
        except PiiError as exc:
            # The PII library's messages name key ids, never key material or values.
            raise WarehouseError(f"customer data cannot be decrypted: {exc}") from None
