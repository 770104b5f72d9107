-- PromptSales warehouse schema. Every statement is idempotent: `promptsales etl init-schema`
-- runs this file in one transaction under an advisory lock, so running it twice (or two
-- pods at once) converges on the same schema.

CREATE SCHEMA IF NOT EXISTS warehouse;

-- Dimensions ------------------------------------------------------------------------------

CREATE TABLE IF NOT EXISTS warehouse.dim_date (
    day          date PRIMARY KEY,
    year         smallint NOT NULL,
    quarter      smallint NOT NULL,
    month        smallint NOT NULL,
    iso_week     smallint NOT NULL,
    day_of_week  smallint NOT NULL,  -- ISO: 1 = Monday
    is_weekend   boolean  NOT NULL
);

CREATE TABLE IF NOT EXISTS warehouse.dim_channel (
    channel_id      integer PRIMARY KEY,
    name            text    NOT NULL,
    kind            text    NOT NULL,
    source_version  bigint  NOT NULL,
    loaded_at       timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS warehouse.dim_campaign (
    campaign_id     integer PRIMARY KEY,
    name            text    NOT NULL,
    channel_id      integer,
    channel         text,
    status          text    NOT NULL,
    start_date      date    NOT NULL,
    end_date        date,
    budget          numeric(14, 2),
    source_version  bigint  NOT NULL,
    loaded_at       timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS warehouse.dim_ad (
    ad_id           integer PRIMARY KEY,
    campaign_id     integer NOT NULL,
    headline        text    NOT NULL,
    source_version  bigint  NOT NULL,
    loaded_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS dim_ad_campaign_idx ON warehouse.dim_ad (campaign_id);

-- Personal fields live only inside pii_ciphertext (AES-GCM, envelope keys in pii_data_keys);
-- email_hmac is the keyed pseudonymous join key; country and created_day stay in clear for
-- analytics because neither identifies a person.
CREATE TABLE IF NOT EXISTS warehouse.dim_customer (
    customer_id     integer PRIMARY KEY,
    email_hmac      bytea   NOT NULL,
    pii_key_id      text    NOT NULL,
    pii_ciphertext  bytea   NOT NULL,
    country         text    NOT NULL,
    created_day     date    NOT NULL,
    source_version  bigint  NOT NULL,
    loaded_at       timestamptz NOT NULL DEFAULT now()
);
-- Pages keep a tenth free so that a merge's update (a new ciphertext, a new version) can stay
-- on its page as a HOT update instead of adding an entry to every index: the steady-state
-- merge spent about 40% less on customers and ad metrics (fact partitions and the KPI
-- aggregate likewise). Applies to pages written from now on; existing rows keep theirs.
ALTER TABLE warehouse.dim_customer SET (fillfactor = 90);
CREATE INDEX IF NOT EXISTS dim_customer_email_hmac_idx ON warehouse.dim_customer (email_hmac);
-- No index on pii_key_id: it holds one value per key generation, so it served only the
-- retirement check of `pii rotate` (a scan of the table per decrypt-only key, rare) while
-- costing every first load ~0.13 s to build and keeping a rotation's updates from being HOT.
DROP INDEX IF EXISTS warehouse.dim_customer_pii_key_idx;

-- Facts (declarative range partitions by day, one partition per month) --------------------

-- Ad spend is stored as exact integer cents (the extract reads `spend * 100` of the
-- sources' numeric(14, 2); money in minor units, as payment systems keep it). Parsing and
-- dumping a Python Decimal per row was the largest single cost of the ETL's GIL-bound
-- client on a large load, and a generated numeric column would hand that cost to the
-- warehouse's COPY instead. Readers get numeric spend from `agg_campaign_daily` and the KPI
-- views; a query on this table writes `spend_cents / 100.0`.
CREATE TABLE IF NOT EXISTS warehouse.fact_ad_daily (
    day             date    NOT NULL,
    ad_id           integer NOT NULL,
    campaign_id     integer NOT NULL,
    impressions     bigint  NOT NULL,
    clicks          bigint  NOT NULL,
    conversions     integer NOT NULL,
    source_version  bigint  NOT NULL,
    spend_cents     bigint  NOT NULL,
    PRIMARY KEY (day, ad_id)
) PARTITION BY RANGE (day);
-- A warehouse created before spend_cents existed: convert in place, once.
DO $$
BEGIN
    IF NOT EXISTS (
        SELECT 1 FROM information_schema.columns
        WHERE table_schema = 'warehouse' AND table_name = 'fact_ad_daily'
          AND column_name = 'spend_cents'
    ) THEN
        ALTER TABLE warehouse.fact_ad_daily ADD COLUMN spend_cents bigint;
        UPDATE warehouse.fact_ad_daily SET spend_cents = (spend * 100)::bigint;
        ALTER TABLE warehouse.fact_ad_daily ALTER COLUMN spend_cents SET NOT NULL;
        ALTER TABLE warehouse.fact_ad_daily DROP COLUMN spend;
    END IF;
END
$$;
CREATE INDEX IF NOT EXISTS fact_ad_daily_campaign_day_idx
    ON warehouse.fact_ad_daily (campaign_id, day);

CREATE TABLE IF NOT EXISTS warehouse.fact_lead (
    day             date    NOT NULL,
    lead_id         integer NOT NULL,
    customer_id     integer NOT NULL,
    campaign_id     integer NOT NULL,
    status          text    NOT NULL,
    created_at      timestamp NOT NULL,
    source_version  bigint  NOT NULL,
    PRIMARY KEY (day, lead_id)
) PARTITION BY RANGE (day);
CREATE INDEX IF NOT EXISTS fact_lead_id_idx ON warehouse.fact_lead (lead_id);
CREATE INDEX IF NOT EXISTS fact_lead_campaign_day_idx ON warehouse.fact_lead (campaign_id, day);

CREATE TABLE IF NOT EXISTS warehouse.fact_conversion (
    day             date    NOT NULL,
    conversion_id   integer NOT NULL,
    customer_id     integer NOT NULL,
    campaign_id     integer NOT NULL,
    lead_id         integer,
    converted_at    timestamp NOT NULL,
    revenue         numeric(14, 2) NOT NULL,
    source_version  bigint  NOT NULL,
    PRIMARY KEY (day, conversion_id)
) PARTITION BY RANGE (day);
CREATE INDEX IF NOT EXISTS fact_conversion_id_idx ON warehouse.fact_conversion (conversion_id);
CREATE INDEX IF NOT EXISTS fact_conversion_campaign_day_idx
    ON warehouse.fact_conversion (campaign_id, day);
CREATE INDEX IF NOT EXISTS fact_conversion_customer_idx
    ON warehouse.fact_conversion (customer_id);

-- Creates the monthly partitions covering [first_day, last_day] of a fact table; the ETL
-- calls it for the months present in a batch, so no row ever lacks a partition. Room for
-- HOT updates as in dim_customer (a partitioned parent takes no fillfactor of its own).
CREATE OR REPLACE FUNCTION warehouse.ensure_month_partitions(
    parent text, first_day date, last_day date
) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    month_start date := date_trunc('month', first_day)::date;
BEGIN
    WHILE month_start <= last_day LOOP
        EXECUTE format(
            'CREATE TABLE IF NOT EXISTS warehouse.%I PARTITION OF warehouse.%I '
            'FOR VALUES FROM (%L) TO (%L) WITH (fillfactor = 90)',
            parent || '_' || to_char(month_start, 'YYYY_MM'), parent,
            month_start, (month_start + interval '1 month')::date
        );
        month_start := (month_start + interval '1 month')::date;
    END LOOP;
END
$$;

-- KPI aggregates the MCP server reads --------------------------------------------------------

-- Maintained by the ETL in the same transaction as the facts, for the (campaign, day) keys a
-- run touched; equal at all times to a from-scratch GROUP BY over the facts.
CREATE TABLE IF NOT EXISTS warehouse.agg_campaign_daily (
    campaign_id           integer NOT NULL,
    day                   date    NOT NULL,
    impressions           bigint  NOT NULL,
    clicks                bigint  NOT NULL,
    spend                 numeric(16, 2) NOT NULL,
    platform_conversions  bigint  NOT NULL,
    leads                 bigint  NOT NULL,
    conversions           bigint  NOT NULL,
    revenue               numeric(16, 2) NOT NULL,
    PRIMARY KEY (campaign_id, day)
);

ALTER TABLE warehouse.agg_campaign_daily SET (fillfactor = 90);

CREATE OR REPLACE VIEW warehouse.campaign_kpis_daily AS
SELECT
    a.campaign_id,
    a.day,
    a.impressions,
    a.clicks,
    a.spend,
    a.platform_conversions,
    a.leads,
    a.conversions,
    a.revenue,
    a.clicks::numeric / NULLIF(a.impressions, 0)  AS ctr,
    a.spend / NULLIF(a.clicks, 0)                 AS cpc,
    a.spend / NULLIF(a.conversions, 0)            AS cpa,
    a.revenue / NULLIF(a.spend, 0)                AS roas
FROM warehouse.agg_campaign_daily a;

-- Totals and ratios over a date range (inclusive): ratios of sums, not averages of ratios.
CREATE OR REPLACE FUNCTION warehouse.campaign_kpis(
    p_campaign_id integer, p_from date, p_to date
) RETURNS TABLE (
    campaign_id integer, day_from date, day_to date,
    impressions bigint, clicks bigint, spend numeric, platform_conversions bigint,
    leads bigint, conversions bigint, revenue numeric,
    ctr numeric, cpc numeric, cpa numeric, roas numeric
) LANGUAGE sql STABLE AS $$
    SELECT p_campaign_id, p_from, p_to,
           s.impressions, s.clicks, s.spend, s.platform_conversions,
           s.leads, s.conversions, s.revenue,
           s.clicks::numeric / NULLIF(s.impressions, 0),
           s.spend / NULLIF(s.clicks, 0),
           s.spend / NULLIF(s.conversions, 0),
           s.revenue / NULLIF(s.spend, 0)
    FROM (
        SELECT COALESCE(sum(a.impressions), 0)::bigint AS impressions,
               COALESCE(sum(a.clicks), 0)::bigint AS clicks,
               COALESCE(sum(a.spend), 0) AS spend,
               COALESCE(sum(a.platform_conversions), 0)::bigint AS platform_conversions,
               COALESCE(sum(a.leads), 0)::bigint AS leads,
               COALESCE(sum(a.conversions), 0)::bigint AS conversions,
               COALESCE(sum(a.revenue), 0) AS revenue
        FROM warehouse.agg_campaign_daily a
        WHERE a.campaign_id = p_campaign_id AND a.day BETWEEN p_from AND p_to
    ) s
$$;

-- When each campaign's answers last changed, for the MCP server's answer cache: one row per
-- campaign, rewritten by a run that changed the campaign's KPI rows or its dimension row
-- (a run that changed nothing writes nothing). `version` comes from the sequence, drawn
-- under the ETL's merge lock, so it grows in commit order: a reader that has seen every
-- version up to N finds every later change with `version > N`. run_id alone would not do:
-- runs of two scopes take their run ids when they start, not when they commit.
CREATE SEQUENCE IF NOT EXISTS warehouse.campaign_kpi_version_seq;
CREATE TABLE IF NOT EXISTS warehouse.campaign_kpi_version (
    campaign_id  integer     PRIMARY KEY,
    version      bigint      NOT NULL,
    run_id       bigint      NOT NULL,
    changed_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS campaign_kpi_version_version_idx
    ON warehouse.campaign_kpi_version (version);

-- The ETL's own bookkeeping -----------------------------------------------------------------

CREATE TABLE IF NOT EXISTS warehouse.etl_run (
    run_id        bigserial PRIMARY KEY,
    scope         text        NOT NULL,
    status        text        NOT NULL CHECK (status IN ('succeeded', 'failed')),
    started_at    timestamptz NOT NULL,
    finished_at   timestamptz NOT NULL DEFAULT now(),
    duration_ms   bigint      NOT NULL,
    rows_read     jsonb       NOT NULL DEFAULT '{}',
    rows_loaded   jsonb       NOT NULL DEFAULT '{}',
    rows_quarantined jsonb    NOT NULL DEFAULT '{}',
    error         text
);
CREATE INDEX IF NOT EXISTS etl_run_scope_idx ON warehouse.etl_run (scope, run_id DESC);

-- Exclusive lower bound is never needed: low_version is inclusive and equals the previous
-- run's (exclusive) upper bound, so consecutive windows tile the change-version line.
CREATE TABLE IF NOT EXISTS warehouse.etl_watermark (
    scope         text   NOT NULL,
    source_view   text   NOT NULL,
    low_version   bigint NOT NULL,
    run_id        bigint NOT NULL REFERENCES warehouse.etl_run (run_id),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (scope, source_view)
);

CREATE TABLE IF NOT EXISTS warehouse.etl_quarantine (
    quarantine_id  bigserial PRIMARY KEY,
    run_id         bigint NOT NULL REFERENCES warehouse.etl_run (run_id),
    source_view    text   NOT NULL,
    source_key     text,
    reason         text   NOT NULL,
    payload        jsonb  NOT NULL,
    quarantined_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS etl_quarantine_run_idx ON warehouse.etl_quarantine (run_id);
-- An entry stays open (resolved_run_id NULL) while its row is still bad or still waits for
-- its parent; a later run resolves it as 'loaded' (the parent arrived and the parked row
-- merged), 'superseded' (the row was read again: fixed in the source, or changed again) or
-- 'deleted' (the row was deleted in the source).
ALTER TABLE warehouse.etl_quarantine ADD COLUMN IF NOT EXISTS resolved_run_id bigint
    REFERENCES warehouse.etl_run (run_id);
ALTER TABLE warehouse.etl_quarantine ADD COLUMN IF NOT EXISTS resolution text;
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'etl_quarantine_resolution_check')
    THEN
        ALTER TABLE warehouse.etl_quarantine ADD CONSTRAINT etl_quarantine_resolution_check
            CHECK ((resolved_run_id IS NULL) = (resolution IS NULL)
                   AND resolution IN ('loaded', 'superseded', 'deleted'));
    END IF;
END
$$;
CREATE INDEX IF NOT EXISTS etl_quarantine_open_idx
    ON warehouse.etl_quarantine (source_view, source_key) WHERE resolved_run_id IS NULL;

-- Deletes the warehouse has applied: the newest tombstone version per source row. A run of
-- another scope whose snapshot predates a delete can commit after it; its staged copy of
-- the row is older than the tombstone and is dropped instead of bringing the row back.
CREATE TABLE IF NOT EXISTS warehouse.etl_deleted (
    source_view  text        NOT NULL,
    source_key   text        NOT NULL,
    version      bigint      NOT NULL,
    deleted_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (source_view, source_key)
);

-- Envelope encryption: data keys wrapped by a key-encryption key from the keyring Secret ----

CREATE TABLE IF NOT EXISTS warehouse.pii_data_keys (
    key_id       text PRIMARY KEY,
    kek_id       text,
    wrapped_key  bytea,
    state        text NOT NULL CHECK (state IN ('active', 'decrypt_only', 'retired')),
    created_at   timestamptz NOT NULL DEFAULT now(),
    retired_at   timestamptz,
    CHECK ((state = 'retired') = (wrapped_key IS NULL))
);
CREATE UNIQUE INDEX IF NOT EXISTS pii_data_keys_one_active
    ON warehouse.pii_data_keys ((true)) WHERE state = 'active';
