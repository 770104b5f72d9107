"""The PromptAds and PromptCRM source data model, one definition for SQL Server and the stand-in.

Production runs on SQL Server (``mssql+pyodbc``), where every table carries a ``rowversion``
column the engine bumps on each insert and update. Tests and local runs use a PostgreSQL
database per source as a *stand-in source engine*: there the same column is a ``bigint``
stamped by a trigger (see :data:`PG_CHANGE_TRIGGER_FUNCTION`). The ETL reads only the views
in schema ``etl``; each exposes ``change_version`` (a ``bigint``) for the incremental watermark.

The view definitions are SQLAlchemy selects compiled per dialect, so the SQL Server DDL and
the stand-in DDL cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    ColumnElement,
    Date,
    DateTime,
    Integer,
    MetaData,
    Numeric,
    Select,
    String,
    Table,
    Unicode,
    case,
    cast,
    func,
    select,
)
from sqlalchemy.dialects import mssql
from sqlalchemy.engine import Dialect
from sqlalchemy.schema import CreateIndex, CreateTable, Index

VIEW_SCHEMA = "etl"

ROW_VERSION_TYPE = BigInteger().with_variant(mssql.ROWVERSION(), "mssql")  # type: ignore[no-untyped-call]
"""``rowversion`` on SQL Server; on the stand-in a trigger-maintained ``bigint``."""
WATERMARK_TYPE = BigInteger().with_variant(mssql.BINARY(8), "mssql")
"""What a watermark is compared as, against a raw ``row_version``: SQL Server compares
``rowversion`` as ``binary(8)`` (big-endian, so in the order of the counter), which an
index on the column can seek; a ``CAST(row_version AS BIGINT)`` on the column side could
only be evaluated row by row. The stand-in's column is a ``bigint`` already."""
DAY = Date().with_variant(mssql.DATE(), "mssql")
TIMESTAMP = DateTime().with_variant(mssql.DATETIME2(), "mssql")  # type: ignore[no-untyped-call]


def _row_version() -> Column[int]:
    return Column("row_version", ROW_VERSION_TYPE, nullable=False)


# --- PromptAds -----------------------------------------------------------------------------

ads_metadata = MetaData()

channels = Table(
    "channels",
    ads_metadata,
    Column("channel_id", Integer, primary_key=True, autoincrement=False),
    Column("name", Unicode(100), nullable=False),
    Column("kind", Unicode(30), nullable=False),
    _row_version(),
)

campaigns = Table(
    "campaigns",
    ads_metadata,
    Column("campaign_id", Integer, primary_key=True, autoincrement=False),
    Column("channel_id", Integer, nullable=True),
    Column("name", Unicode(200), nullable=False),
    Column("status", Unicode(20), nullable=False),
    Column("start_date", DAY, nullable=False),
    Column("end_date", DAY, nullable=True),
    _row_version(),
)

budgets = Table(
    "budgets",
    ads_metadata,
    Column("budget_id", Integer, primary_key=True, autoincrement=False),
    Column("campaign_id", Integer, nullable=False),
    Column("amount", Numeric(14, 2), nullable=False),
    Column("currency", String(3), nullable=False),
    _row_version(),
    Index("ix_budgets_campaign", "campaign_id"),
)

ads = Table(
    "ads",
    ads_metadata,
    Column("ad_id", Integer, primary_key=True, autoincrement=False),
    Column("campaign_id", Integer, nullable=True),
    Column("headline", Unicode(200), nullable=False),
    _row_version(),
    Index("ix_ads_campaign", "campaign_id"),
)

# No CHECK constraints on purpose: the sources are operational systems the platform does
# not own, and the ETL must survive the bad rows they really contain (quarantine).
ad_metrics_daily = Table(
    "ad_metrics_daily",
    ads_metadata,
    Column("ad_id", Integer, primary_key=True, autoincrement=False),
    Column("day", DAY, primary_key=True),
    Column("impressions", BigInteger, nullable=False),
    Column("clicks", BigInteger, nullable=False),
    Column("spend", Numeric(14, 2), nullable=False),
    Column("conversions", Integer, nullable=False),
    _row_version(),
)

# --- PromptCRM -----------------------------------------------------------------------------

crm_metadata = MetaData()

customers = Table(
    "customers",
    crm_metadata,
    Column("customer_id", Integer, primary_key=True, autoincrement=False),
    Column("first_name", Unicode(100), nullable=False),
    Column("last_name", Unicode(100), nullable=False),
    Column("email", Unicode(320), nullable=False),
    Column("phone", Unicode(40), nullable=True),
    Column("street", Unicode(200), nullable=True),
    Column("city", Unicode(100), nullable=True),
    Column("postal_code", Unicode(20), nullable=True),
    Column("country", String(2), nullable=False),
    Column("birth_date", DAY, nullable=True),
    Column("created_at", TIMESTAMP, nullable=False),
    _row_version(),
)

leads = Table(
    "leads",
    crm_metadata,
    Column("lead_id", Integer, primary_key=True, autoincrement=False),
    Column("customer_id", Integer, nullable=True),
    Column("campaign_id", Integer, nullable=True),
    Column("created_at", TIMESTAMP, nullable=False),
    Column("status", Unicode(20), nullable=False),
    _row_version(),
    Index("ix_leads_campaign", "campaign_id"),
)

conversions = Table(
    "conversions",
    crm_metadata,
    Column("conversion_id", Integer, primary_key=True, autoincrement=False),
    Column("customer_id", Integer, nullable=True),
    Column("campaign_id", Integer, nullable=True),
    Column("lead_id", Integer, nullable=True),
    Column("converted_at", TIMESTAMP, nullable=False),
    Column("revenue", Numeric(14, 2), nullable=False),
    _row_version(),
    Index("ix_conversions_campaign", "campaign_id"),
)

# --- Tombstones ------------------------------------------------------------------------------
#
# A hard delete leaves no row to carry a new row_version, so each table whose deletes the
# warehouse must follow gets a tombstone table, filled by an AFTER DELETE trigger (see
# :func:`source_ddl`). A tombstone's own row_version comes from the same counter as the
# rows' (SQL Server's database-wide rowversion; on the stand-in the deleting transaction's
# id), so the safe upper bound and the watermarks cover deletes exactly as they cover
# inserts and updates: a delete still uncommitted is held back, a committed one is read
# once per scope. SQL Server's change tracking was the other candidate; its versions are a
# second counter with its own retention, which would need a second watermark per view and a
# full reload whenever a scope fell behind the retention period.
# Deletes of channels, campaigns and ads are not followed (PromptAds retires them by
# status); budgets, ad metrics, customers, leads and conversions are.


def _tombstones(name: str, metadata: MetaData, *columns: Column[Any] | Index) -> Table:
    return Table(f"{name}_tombstones", metadata, *columns, _row_version())


budgets_tombstones = _tombstones(
    "budgets",
    ads_metadata,
    Column("budget_id", Integer, nullable=False),
    Column("campaign_id", Integer, nullable=True),
    Index("ix_budgets_tombstones_campaign", "campaign_id"),
)
ad_metrics_daily_tombstones = _tombstones(
    "ad_metrics_daily",
    ads_metadata,
    Column("ad_id", Integer, nullable=False),
    Column("day", DAY, nullable=False),
    # The ad's campaign when the row was deleted: what a campaign-scoped run filters on.
    Column("campaign_id", Integer, nullable=True),
    Index("ix_ad_metrics_daily_tombstones_campaign", "campaign_id"),
)
customers_tombstones = _tombstones(
    "customers", crm_metadata, Column("customer_id", Integer, nullable=False)
)
leads_tombstones = _tombstones(
    "leads",
    crm_metadata,
    Column("lead_id", Integer, nullable=False),
    Column("campaign_id", Integer, nullable=True),
    Index("ix_leads_tombstones_campaign", "campaign_id"),
)
conversions_tombstones = _tombstones(
    "conversions",
    crm_metadata,
    Column("conversion_id", Integer, nullable=False),
    Column("campaign_id", Integer, nullable=True),
    Index("ix_conversions_tombstones_campaign", "campaign_id"),
)

TOMBSTONED: dict[str, tuple[Table, str]] = {
    "budgets": (budgets_tombstones, "d.budget_id, d.campaign_id"),
    "ad_metrics_daily": (
        ad_metrics_daily_tombstones,
        "d.ad_id, d.day, (SELECT a.campaign_id FROM ads a WHERE a.ad_id = d.ad_id)",
    ),
    "customers": (customers_tombstones, "d.customer_id"),
    "leads": (leads_tombstones, "d.lead_id, d.campaign_id"),
    "conversions": (conversions_tombstones, "d.conversion_id, d.campaign_id"),
}
"""Source table → (its tombstone table, the values a deleted row ``d`` leaves there)."""

PERSONAL_FIELDS: tuple[str, ...] = (
    "first_name",
    "last_name",
    "email",
    "phone",
    "street",
    "city",
    "postal_code",
    "birth_date",
)
"""Customer columns that identify a person: they leave the source only encrypted."""

for _table in (*ads_metadata.tables.values(), *crm_metadata.tables.values()):
    Index(f"ix_{_table.name}_row_version", _table.c.row_version)


# --- ETL views -----------------------------------------------------------------------------


def _cv(column: ColumnElement[Any]) -> ColumnElement[int]:
    return cast(column, BigInteger)


def _greatest(a: ColumnElement[int], b: ColumnElement[Any]) -> ColumnElement[int]:
    """Portable GREATEST (SQL Server before 2022 has none); NULL on one side means the other."""
    return case((b.is_(None), a), (a >= b, a), else_=b)


def _view_selects() -> dict[str, tuple[str, Select[Any]]]:
    budget_totals = (
        select(
            budgets.c.campaign_id,
            func.sum(budgets.c.amount).label("budget"),
            func.max(_cv(budgets.c.row_version)).label("budget_version"),
        )
        .group_by(budgets.c.campaign_id)
        .subquery("b")
    )
    # A deleted budget changes its campaign's total: the campaign row is read again.
    budget_deletes = (
        select(
            budgets_tombstones.c.campaign_id,
            func.max(_cv(budgets_tombstones.c.row_version)).label("deleted_version"),
        )
        .group_by(budgets_tombstones.c.campaign_id)
        .subquery("bd")
    )
    metric_version = _cv(ad_metrics_daily.c.row_version)
    ad_version = _cv(ads.c.row_version)
    return {
        "v_channel": (
            "ads",
            select(
                channels.c.channel_id,
                channels.c.name,
                channels.c.kind,
                _cv(channels.c.row_version).label("change_version"),
                channels.c.row_version,
            ),
        ),
        "v_campaign": (
            "ads",
            select(
                campaigns.c.campaign_id,
                campaigns.c.channel_id,
                campaigns.c.name,
                campaigns.c.status,
                campaigns.c.start_date,
                campaigns.c.end_date,
                cast(budget_totals.c.budget, Numeric(14, 2)).label("budget"),
                _greatest(
                    _greatest(_cv(campaigns.c.row_version), budget_totals.c.budget_version),
                    budget_deletes.c.deleted_version,
                ).label("change_version"),
            ).select_from(
                campaigns.outerjoin(
                    budget_totals, budget_totals.c.campaign_id == campaigns.c.campaign_id
                ).outerjoin(budget_deletes, budget_deletes.c.campaign_id == campaigns.c.campaign_id)
            ),
        ),
        "v_ad": (
            "ads",
            select(
                ads.c.ad_id,
                ads.c.campaign_id,
                ads.c.headline,
                _cv(ads.c.row_version).label("change_version"),
                ads.c.row_version,
            ),
        ),
        "v_ad_metrics_daily": (
            "ads",
            select(
                ad_metrics_daily.c.ad_id,
                ads.c.campaign_id,
                ad_metrics_daily.c.day,
                ad_metrics_daily.c.impressions,
                ad_metrics_daily.c.clicks,
                ad_metrics_daily.c.spend,
                ad_metrics_daily.c.conversions,
                # The row takes its campaign from the ad, so the ad's version is the row's
                # too: an ad moved to another campaign (or given a valid one) brings every
                # metrics row of it along. Both parts are exposed so that the extract can
                # reach each through its own row_version index (see etl_job.extract).
                _greatest(metric_version, ad_version).label("change_version"),
                ad_metrics_daily.c.row_version.label("metric_version"),
                ads.c.row_version.label("ad_version"),
            ).select_from(ad_metrics_daily.outerjoin(ads, ads.c.ad_id == ad_metrics_daily.c.ad_id)),
        ),
        "v_ad_metrics_daily_deleted": (
            "ads",
            select(
                ad_metrics_daily_tombstones.c.ad_id,
                ad_metrics_daily_tombstones.c.day,
                ad_metrics_daily_tombstones.c.campaign_id,
                _cv(ad_metrics_daily_tombstones.c.row_version).label("change_version"),
                ad_metrics_daily_tombstones.c.row_version,
            ),
        ),
        "v_customer": (
            "crm",
            select(
                customers.c.customer_id,
                *(customers.c[name] for name in PERSONAL_FIELDS),
                customers.c.country,
                customers.c.created_at,
                _cv(customers.c.row_version).label("change_version"),
                customers.c.row_version,
            ),
        ),
        "v_lead": (
            "crm",
            select(
                leads.c.lead_id,
                leads.c.customer_id,
                leads.c.campaign_id,
                leads.c.created_at,
                leads.c.status,
                _cv(leads.c.row_version).label("change_version"),
                leads.c.row_version,
            ),
        ),
        "v_conversion": (
            "crm",
            select(
                conversions.c.conversion_id,
                conversions.c.customer_id,
                conversions.c.campaign_id,
                conversions.c.lead_id,
                conversions.c.converted_at,
                conversions.c.revenue,
                _cv(conversions.c.row_version).label("change_version"),
                conversions.c.row_version,
            ),
        ),
        "v_customer_deleted": (
            "crm",
            select(
                customers_tombstones.c.customer_id,
                _cv(customers_tombstones.c.row_version).label("change_version"),
                customers_tombstones.c.row_version,
            ),
        ),
        "v_lead_deleted": (
            "crm",
            select(
                leads_tombstones.c.lead_id,
                leads_tombstones.c.campaign_id,
                _cv(leads_tombstones.c.row_version).label("change_version"),
                leads_tombstones.c.row_version,
            ),
        ),
        "v_conversion_deleted": (
            "crm",
            select(
                conversions_tombstones.c.conversion_id,
                conversions_tombstones.c.campaign_id,
                _cv(conversions_tombstones.c.row_version).label("change_version"),
                conversions_tombstones.c.row_version,
            ),
        ),
    }


VIEW_SELECTS: dict[str, tuple[str, Select[Any]]] = _view_selects()
"""View name → (source, defining select)."""

view_metadata = MetaData(schema=VIEW_SCHEMA)
VIEWS: dict[str, Table] = {
    name: Table(
        name,
        view_metadata,
        *(Column(col.name, col.type) for col in query.selected_columns),
    )
    for name, (_source, query) in VIEW_SELECTS.items()
}
"""The views as tables the extract queries select from."""


def view_source(view_name: str) -> str:
    """``ads`` or ``crm``: which source database holds the view."""
    return VIEW_SELECTS[view_name][0]


# --- DDL -------------------------------------------------------------------------------------

PG_CHANGE_TRIGGER_FUNCTION = """
CREATE OR REPLACE FUNCTION etl.stamp_row_version() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- Stand-in for SQL Server's rowversion: the writing transaction's 64-bit id.
    -- pg_current_xact_id() assigns the id if the transaction has none yet, so every row
    -- a transaction writes carries an id that is "in progress" until it commits; the
    -- extractor reads only ids below pg_snapshot_xmin(), i.e. transactions that have
    -- finished, which is what MIN_ACTIVE_ROWVERSION() gives on SQL Server.
    NEW.row_version := pg_current_xact_id()::text::bigint;
    RETURN NEW;
END
$$
"""


def _metadata_for(source: str) -> MetaData:
    if source == "ads":
        return ads_metadata
    if source == "crm":
        return crm_metadata
    raise ValueError(f"unknown source {source!r}: expected 'ads' or 'crm'")


def _tombstone_triggers(metadata: MetaData, is_mssql: bool) -> list[str]:
    """AFTER DELETE triggers that leave a tombstone per deleted row (see :data:`TOMBSTONED`).

    The stand-in's trigger is per statement over the transition table, so a bulk delete
    writes its tombstones in one INSERT; the tombstone's row_version is stamped by the
    tombstone table's own trigger like any row's.
    """
    statements: list[str] = []
    for name, (tombstones, values) in TOMBSTONED.items():
        if name not in metadata.tables:
            continue
        columns = ", ".join(c.name for c in tombstones.c if c.name != "row_version")
        trigger = f"trg_{name}_tombstone"
        if is_mssql:
            statements.append(
                f"CREATE OR ALTER TRIGGER {trigger} ON {name} AFTER DELETE AS\n"
                "BEGIN\n"
                "    SET NOCOUNT ON;\n"
                f"    INSERT INTO {tombstones.name} ({columns})\n"
                f"    SELECT {values} FROM deleted AS d;\n"
                "END"
            )
            continue
        function = f"{VIEW_SCHEMA}.tombstone_{name}"
        statements.append(
            f"CREATE OR REPLACE FUNCTION {function}() RETURNS trigger\n"
            "LANGUAGE plpgsql AS $$\n"
            "BEGIN\n"
            f"    INSERT INTO {tombstones.name} ({columns}) SELECT {values} FROM gone AS d;\n"
            "    RETURN NULL;\n"
            "END\n"
            "$$"
        )
        statements.append(f"DROP TRIGGER IF EXISTS {trigger} ON {name}")
        statements.append(
            f"CREATE TRIGGER {trigger} AFTER DELETE ON {name} REFERENCING OLD TABLE AS gone "
            f"FOR EACH STATEMENT EXECUTE FUNCTION {function}()"
        )
    return statements


def source_ddl(source: str, dialect: Dialect) -> list[str]:
    """Every statement that creates ``source``'s tables and ETL views on ``dialect``.

    Statements are idempotent on the stand-in (IF NOT EXISTS / OR REPLACE) and on SQL Server
    (existence guards, CREATE OR ALTER VIEW), so the set-up command is safe to run twice.
    """
    metadata = _metadata_for(source)
    is_mssql = dialect.name == "mssql"
    statements: list[str] = []
    if is_mssql:
        statements.append(
            f"IF SCHEMA_ID('{VIEW_SCHEMA}') IS NULL EXEC('CREATE SCHEMA {VIEW_SCHEMA}')"
        )
    else:
        statements.append(f"CREATE SCHEMA IF NOT EXISTS {VIEW_SCHEMA}")
        statements.append(PG_CHANGE_TRIGGER_FUNCTION.strip())
    for table in metadata.sorted_tables:
        create = str(CreateTable(table, if_not_exists=not is_mssql).compile(dialect=dialect))
        if is_mssql:
            create = f"IF OBJECT_ID('{table.name}', 'U') IS NULL\n{create}"
        statements.append(create.strip())
        for index in sorted(table.indexes, key=lambda ix: str(ix.name)):
            ddl = str(CreateIndex(index, if_not_exists=not is_mssql).compile(dialect=dialect))
            if is_mssql:
                ddl = (
                    f"IF NOT EXISTS (SELECT 1 FROM sys.indexes WHERE name = '{index.name}')\n{ddl}"
                )
            statements.append(ddl.strip())
        if not is_mssql:
            trigger = f"trg_{table.name}_row_version"
            statements.append(f"DROP TRIGGER IF EXISTS {trigger} ON {table.name}")
            statements.append(
                f"CREATE TRIGGER {trigger} BEFORE INSERT OR UPDATE ON {table.name} "
                "FOR EACH ROW EXECUTE FUNCTION etl.stamp_row_version()"
            )
    statements += _tombstone_triggers(metadata, is_mssql)
    for name, (view_src, query) in VIEW_SELECTS.items():
        if view_src != source:
            continue
        body = str(query.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
        verb = "CREATE OR ALTER VIEW" if is_mssql else "CREATE OR REPLACE VIEW"
        statements.append(f"{verb} {VIEW_SCHEMA}.{name} AS\n{body}")
    return statements


def source_tables(source: str) -> Iterable[Table]:
    """The tables of one source, parents first."""
    return _metadata_for(source).sorted_tables
