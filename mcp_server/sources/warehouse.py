"""Read-only warehouse access: every SQL statement the MCP server runs is in this module.

The ETL owns the schema (``etl_job/warehouse.sql``); the names below are the whole
contract, so a rename there is a one-line change here. KPIs are aggregates: nothing
personal is read from the warehouse by this module.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

KPI_DAILY = "warehouse.campaign_kpis_daily"
DIM_CAMPAIGN = "warehouse.dim_campaign"

SQL_CAMPAIGN = f"SELECT campaign_id, name, status, channel, start_date, end_date FROM {DIM_CAMPAIGN} WHERE campaign_id = %(campaign_id)s"  # noqa: E501
SQL_DAILY = f"""
SELECT day, impressions, clicks, spend, conversions, revenue, ctr, cpc, cpa, roas
FROM {KPI_DAILY}
WHERE campaign_id = %(campaign_id)s AND day BETWEEN %(day_from)s AND %(day_to)s
ORDER BY day
"""
# Ratios of sums over the range, never averages of daily ratios.
SQL_TOTALS = f"""
SELECT COALESCE(sum(impressions), 0)::bigint AS impressions,
       COALESCE(sum(clicks), 0)::bigint AS clicks,
       COALESCE(sum(spend), 0) AS spend,
       COALESCE(sum(conversions), 0)::bigint AS conversions,
       COALESCE(sum(revenue), 0) AS revenue
FROM {KPI_DAILY}
WHERE campaign_id = %(campaign_id)s AND day BETWEEN %(day_from)s AND %(day_to)s
"""

# The days a campaign's data actually covers: the last day with data on or before
# ``day_to``, and the first day with data in the window of ``days`` ending there.
SQL_KPI_SPAN = f"""
WITH last AS (
    SELECT max(day) AS day FROM {KPI_DAILY}
    WHERE campaign_id = %(campaign_id)s AND day <= %(day_to)s
)
SELECT min(k.day) AS first_day, last.day AS last_day
FROM last LEFT JOIN {KPI_DAILY} k
  ON k.campaign_id = %(campaign_id)s AND k.day BETWEEN last.day - %(span)s AND last.day
GROUP BY last.day
"""

KPI_VERSION = "warehouse.campaign_kpi_version"
# The rows changed since the last poll, and (last row, campaign NULL) the newest version
# overall: a newest version below what was already seen means the table was rebuilt.
SQL_KPI_VERSIONS = f"""
SELECT campaign_id, version FROM {KPI_VERSION} WHERE version > %(since)s
UNION ALL
SELECT NULL, COALESCE(max(version), 0) FROM {KPI_VERSION}
"""


class WarehouseError(RuntimeError):
    """The warehouse could not answer (unreachable or schema missing)."""


class UnknownCampaignError(LookupError):
    """No such campaign in the warehouse."""


def _num(value: Any) -> float | None:
    if value is None:
        return None
    return round(float(value), 6) if isinstance(value, Decimal | float) else float(value)


def _ratio(numerator: float, denominator: float) -> float | None:
    return round(numerator / denominator, 6) if denominator else None


@dataclass(frozen=True)
class KpiTotals:
    impressions: int
    clicks: int
    spend: float
    conversions: int
    revenue: float

    def as_dict(self) -> dict[str, float | int | None]:
        return {
            "impressions": self.impressions,
            "clicks": self.clicks,
            "spend": self.spend,
            "conversions": self.conversions,
            "revenue": self.revenue,
            "ctr": _ratio(self.clicks, self.impressions),
            "cpc": _ratio(self.spend, self.clicks),
            "cpa": _ratio(self.spend, self.conversions),
            "roas": _ratio(self.revenue, self.spend),
        }


def warehouse_campaign_id(campaign_id: str) -> int:
    """PromptAds ids are integers in the warehouse; anything else cannot be a campaign."""
    if not campaign_id.isdigit() or len(campaign_id) > 18:
        raise UnknownCampaignError(campaign_id)
    return int(campaign_id)


class WarehouseRepository:
    """KPI queries over a small async connection pool (opened lazily on first use)."""

    def __init__(self, dsn: str, *, max_size: int = 4) -> None:
        self._pool = AsyncConnectionPool(
            dsn, min_size=0, max_size=max_size, open=False, kwargs={"row_factory": dict_row}
        )
        self._opened = False

    async def _ensure_open(self) -> None:
        if not self._opened:
            await self._pool.open(wait=False)
            self._opened = True

    async def close(self) -> None:
        if self._opened:
            await self._pool.close()

    async def ping(self) -> bool:
        try:
            await self._ensure_open()
            async with self._pool.connection(timeout=2) as conn:
                await conn.execute("SELECT 1")
        except Exception:  # any failure means "not ready"; the reason is logged by psycopg
            return False
        return True

    async def campaign(self, campaign_id: str) -> dict[str, Any]:
        rows = await self._fetch(SQL_CAMPAIGN, {"campaign_id": warehouse_campaign_id(campaign_id)})
        if not rows:
            raise UnknownCampaignError(campaign_id)
        row = rows[0]
        return {
            "campaign_id": str(row["campaign_id"]),
            "name": row["name"],
            "status": row["status"],
            "channel": row["channel"],
            "start_date": row["start_date"].isoformat() if row["start_date"] else None,
            "end_date": row["end_date"].isoformat() if row["end_date"] else None,
        }

    async def daily_kpis(
        self, campaign_id: str, day_from: dt.date, day_to: dt.date
    ) -> list[dict[str, Any]]:
        params = {
            "campaign_id": warehouse_campaign_id(campaign_id),
            "day_from": day_from,
            "day_to": day_to,
        }
        return [
            {
                "day": row["day"].isoformat(),
                "impressions": int(row["impressions"]),
                "clicks": int(row["clicks"]),
                "spend": _num(row["spend"]),
                "conversions": int(row["conversions"]),
                "revenue": _num(row["revenue"]),
                "ctr": _num(row["ctr"]),
                "cpc": _num(row["cpc"]),
                "cpa": _num(row["cpa"]),
                "roas": _num(row["roas"]),
            }
            for row in await self._fetch(SQL_DAILY, params)
        ]

    async def totals(self, campaign_id: str, day_from: dt.date, day_to: dt.date) -> KpiTotals:
        params = {
            "campaign_id": warehouse_campaign_id(campaign_id),
            "day_from": day_from,
            "day_to": day_to,
        }
        row = (await self._fetch(SQL_TOTALS, params))[0]
        return KpiTotals(
            impressions=int(row["impressions"]),
            clicks=int(row["clicks"]),
            spend=float(row["spend"]),
            conversions=int(row["conversions"]),
            revenue=float(row["revenue"]),
        )

    async def kpi_span(
        self, campaign_id: str, day_to: dt.date, days: int
    ) -> tuple[dt.date, dt.date] | None:
        """(first, last) day with data in the ``days`` ending at the campaign's last day of
        data on or before ``day_to``; None when it has no data at all."""
        params = {
            "campaign_id": warehouse_campaign_id(campaign_id),
            "day_to": day_to,
            "span": days - 1,
        }
        rows = await self._fetch(SQL_KPI_SPAN, params)
        if not rows or rows[0]["last_day"] is None:
            return None
        return rows[0]["first_day"], rows[0]["last_day"]

    async def kpi_versions(self, since: int) -> tuple[dict[str, int], int]:
        """Campaigns whose answers changed after version ``since`` (0: all), and the newest.

        Keys are the server's campaign ids (strings of digits). The ETL draws versions in
        commit order, so polling ``since`` = the newest seen misses no change.
        """
        changed: dict[str, int] = {}
        newest = 0
        for row in await self._fetch(SQL_KPI_VERSIONS, {"since": since}):
            if row["campaign_id"] is None:
                newest = int(row["version"])
            else:
                changed[str(row["campaign_id"])] = int(row["version"])
        return changed, newest

    async def _fetch(self, sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        import psycopg

        await self._ensure_open()
        try:
            async with self._pool.connection(timeout=5) as conn:
                cursor = await conn.execute(sql, params)
                return list(await cursor.fetchall())  # type: ignore[arg-type]
        except (psycopg.Error, TimeoutError) as exc:
            raise WarehouseError(f"warehouse query failed: {type(exc).__name__}") from None
