-- Generated from etl_job/source_model.py by `python -m etl_job.sqlserver_ddl`; do not edit.
USE [PromptAds];
GO
IF SCHEMA_ID('etl') IS NULL EXEC('CREATE SCHEMA etl');
GO
IF OBJECT_ID('ad_metrics_daily', 'U') IS NULL

CREATE TABLE ad_metrics_daily (
	ad_id INTEGER NOT NULL, 
	day DATE NOT NULL, 
	impressions BIGINT NOT NULL, 
	clicks BIGINT NOT NULL, 
	spend NUMERIC(14, 2) NOT NULL, 
	conversions INTEGER NOT NULL, 
	row_version ROWVERSION NOT NULL, 
	PRIMARY KEY (ad_id, day)
);
GO
IF NOT EXISTS (SELECT 1 FROM sys.indexes WHERE name = 'ix_ad_metrics_daily_row_version')
CREATE INDEX ix_ad_metrics_daily_row_version ON ad_metrics_daily (row_version);
GO
IF OBJECT_ID('ad_metrics_daily_tombstones', 'U') IS NULL

CREATE TABLE ad_metrics_daily_tombstones (
	ad_id INTEGER NOT NULL, 
	day DATE NOT NULL, 
	campaign_id INTEGER NULL, 
	row_version ROWVERSION NOT NULL
);
GO
IF NOT EXISTS (SELECT 1 FROM sys.indexes WHERE name = 'ix_ad_metrics_daily_tombstones_campaign')
CREATE INDEX ix_ad_metrics_daily_tombstones_campaign ON ad_metrics_daily_tombstones (campaign_id);
GO
IF NOT EXISTS (SELECT 1 FROM sys.indexes WHERE name = 'ix_ad_metrics_daily_tombstones_row_version')
CREATE INDEX ix_ad_metrics_daily_tombstones_row_version ON ad_metrics_daily_tombstones (row_version);
GO
IF OBJECT_ID('ads', 'U') IS NULL

CREATE TABLE ads (
	ad_id INTEGER NOT NULL, 
	campaign_id INTEGER NULL, 
	headline NVARCHAR(200) NOT NULL, 
	row_version ROWVERSION NOT NULL, 
	PRIMARY KEY (ad_id)
);
GO
IF NOT EXISTS (SELECT 1 FROM sys.indexes WHERE name = 'ix_ads_campaign')
CREATE INDEX ix_ads_campaign ON ads (campaign_id);
GO
IF NOT EXISTS (SELECT 1 FROM sys.indexes WHERE name = 'ix_ads_row_version')
CREATE INDEX ix_ads_row_version ON ads (row_version);
GO
IF OBJECT_ID('budgets', 'U') IS NULL

CREATE TABLE budgets (
	budget_id INTEGER NOT NULL, 
	campaign_id INTEGER NOT NULL, 
	amount NUMERIC(14, 2) NOT NULL, 
	currency VARCHAR(3) NOT NULL, 
	row_version ROWVERSION NOT NULL, 
	PRIMARY KEY (budget_id)
);
GO
IF NOT EXISTS (SELECT 1 FROM sys.indexes WHERE name = 'ix_budgets_campaign')
CREATE INDEX ix_budgets_campaign ON budgets (campaign_id);
GO
IF NOT EXISTS (SELECT 1 FROM sys.indexes WHERE name = 'ix_budgets_row_version')
CREATE INDEX ix_budgets_row_version ON budgets (row_version);
GO
IF OBJECT_ID('budgets_tombstones', 'U') IS NULL

CREATE TABLE budgets_tombstones (
	budget_id INTEGER NOT NULL, 
	campaign_id INTEGER NULL, 
	row_version ROWVERSION NOT NULL
);
GO
IF NOT EXISTS (SELECT 1 FROM sys.indexes WHERE name = 'ix_budgets_tombstones_campaign')
CREATE INDEX ix_budgets_tombstones_campaign ON budgets_tombstones (campaign_id);
GO
IF NOT EXISTS (SELECT 1 FROM sys.indexes WHERE name = 'ix_budgets_tombstones_row_version')
CREATE INDEX ix_budgets_tombstones_row_version ON budgets_tombstones (row_version);
GO
IF OBJECT_ID('campaigns', 'U') IS NULL

CREATE TABLE campaigns (
	campaign_id INTEGER NOT NULL, 
	channel_id INTEGER NULL, 
	name NVARCHAR(200) NOT NULL, 
	status NVARCHAR(20) NOT NULL, 
	start_date DATE NOT NULL, 
	end_date DATE NULL, 
	row_version ROWVERSION NOT NULL, 
	PRIMARY KEY (campaign_id)
);
GO
IF NOT EXISTS (SELECT 1 FROM sys.indexes WHERE name = 'ix_campaigns_row_version')
CREATE INDEX ix_campaigns_row_version ON campaigns (row_version);
GO
IF OBJECT_ID('channels', 'U') IS NULL

CREATE TABLE channels (
	channel_id INTEGER NOT NULL, 
	name NVARCHAR(100) NOT NULL, 
	kind NVARCHAR(30) NOT NULL, 
	row_version ROWVERSION NOT NULL, 
	PRIMARY KEY (channel_id)
);
GO
IF NOT EXISTS (SELECT 1 FROM sys.indexes WHERE name = 'ix_channels_row_version')
CREATE INDEX ix_channels_row_version ON channels (row_version);
GO
CREATE OR ALTER TRIGGER trg_budgets_tombstone ON budgets AFTER DELETE AS
BEGIN
    SET NOCOUNT ON;
    INSERT INTO budgets_tombstones (budget_id, campaign_id)
    SELECT d.budget_id, d.campaign_id FROM deleted AS d;
END;
GO
CREATE OR ALTER TRIGGER trg_ad_metrics_daily_tombstone ON ad_metrics_daily AFTER DELETE AS
BEGIN
    SET NOCOUNT ON;
    INSERT INTO ad_metrics_daily_tombstones (ad_id, day, campaign_id)
    SELECT d.ad_id, d.day, (SELECT a.campaign_id FROM ads a WHERE a.ad_id = d.ad_id) FROM deleted AS d;
END;
GO
CREATE OR ALTER VIEW etl.v_channel AS
SELECT channels.channel_id, channels.name, channels.kind, CAST(channels.row_version AS BIGINT) AS change_version, channels.row_version 
FROM channels;
GO
CREATE OR ALTER VIEW etl.v_campaign AS
SELECT campaigns.campaign_id, campaigns.channel_id, campaigns.name, campaigns.status, campaigns.start_date, campaigns.end_date, CAST(b.budget AS NUMERIC(14, 2)) AS budget, CASE WHEN (bd.deleted_version IS NULL) THEN CASE WHEN (b.budget_version IS NULL) THEN CAST(campaigns.row_version AS BIGINT) WHEN (CAST(campaigns.row_version AS BIGINT) >= b.budget_version) THEN CAST(campaigns.row_version AS BIGINT) ELSE b.budget_version END WHEN (CASE WHEN (b.budget_version IS NULL) THEN CAST(campaigns.row_version AS BIGINT) WHEN (CAST(campaigns.row_version AS BIGINT) >= b.budget_version) THEN CAST(campaigns.row_version AS BIGINT) ELSE b.budget_version END >= bd.deleted_version) THEN CASE WHEN (b.budget_version IS NULL) THEN CAST(campaigns.row_version AS BIGINT) WHEN (CAST(campaigns.row_version AS BIGINT) >= b.budget_version) THEN CAST(campaigns.row_version AS BIGINT) ELSE b.budget_version END ELSE bd.deleted_version END AS change_version 
FROM campaigns LEFT OUTER JOIN (SELECT budgets.campaign_id AS campaign_id, sum(budgets.amount) AS budget, max(CAST(budgets.row_version AS BIGINT)) AS budget_version 
FROM budgets GROUP BY budgets.campaign_id) AS b ON b.campaign_id = campaigns.campaign_id LEFT OUTER JOIN (SELECT budgets_tombstones.campaign_id AS campaign_id, max(CAST(budgets_tombstones.row_version AS BIGINT)) AS deleted_version 
FROM budgets_tombstones GROUP BY budgets_tombstones.campaign_id) AS bd ON bd.campaign_id = campaigns.campaign_id;
GO
CREATE OR ALTER VIEW etl.v_ad AS
SELECT ads.ad_id, ads.campaign_id, ads.headline, CAST(ads.row_version AS BIGINT) AS change_version, ads.row_version 
FROM ads;
GO
CREATE OR ALTER VIEW etl.v_ad_metrics_daily AS
SELECT ad_metrics_daily.ad_id, ads.campaign_id, ad_metrics_daily.day, ad_metrics_daily.impressions, ad_metrics_daily.clicks, ad_metrics_daily.spend, ad_metrics_daily.conversions, CASE WHEN (CAST(ads.row_version AS BIGINT) IS NULL) THEN CAST(ad_metrics_daily.row_version AS BIGINT) WHEN (CAST(ad_metrics_daily.row_version AS BIGINT) >= CAST(ads.row_version AS BIGINT)) THEN CAST(ad_metrics_daily.row_version AS BIGINT) ELSE CAST(ads.row_version AS BIGINT) END AS change_version, ad_metrics_daily.row_version AS metric_version, ads.row_version AS ad_version 
FROM ad_metrics_daily LEFT OUTER JOIN ads ON ads.ad_id = ad_metrics_daily.ad_id;
GO
CREATE OR ALTER VIEW etl.v_ad_metrics_daily_deleted AS
SELECT ad_metrics_daily_tombstones.ad_id, ad_metrics_daily_tombstones.day, ad_metrics_daily_tombstones.campaign_id, CAST(ad_metrics_daily_tombstones.row_version AS BIGINT) AS change_version, ad_metrics_daily_tombstones.row_version 
FROM ad_metrics_daily_tombstones;
GO
IF TYPE_ID(N'etl.ad_metrics_daily_rows') IS NULL
CREATE TYPE etl.ad_metrics_daily_rows AS TABLE (ad_id INTEGER NOT NULL, day DATE NOT NULL, impressions BIGINT NOT NULL, clicks BIGINT NOT NULL, spend NUMERIC(14, 2) NOT NULL, conversions INTEGER NOT NULL, PRIMARY KEY (ad_id, day));
GO
CREATE OR ALTER PROCEDURE etl.usp_ingest_ad_metrics_daily @rows etl.ad_metrics_daily_rows READONLY AS
BEGIN
    SET NOCOUNT ON;
    MERGE ad_metrics_daily WITH (HOLDLOCK) AS t USING @rows AS s ON t.ad_id = s.ad_id AND t.day = s.day
    WHEN MATCHED THEN UPDATE SET t.impressions = s.impressions, t.clicks = s.clicks, t.spend = s.spend, t.conversions = s.conversions
    WHEN NOT MATCHED BY TARGET THEN INSERT (ad_id, day, impressions, clicks, spend, conversions) VALUES (s.ad_id, s.day, s.impressions, s.clicks, s.spend, s.conversions);
END;
GO
USE [PromptCRM];
GO
IF SCHEMA_ID('etl') IS NULL EXEC('CREATE SCHEMA etl');
GO
IF OBJECT_ID('conversions', 'U') IS NULL

CREATE TABLE conversions (
	conversion_id INTEGER NOT NULL, 
	customer_id INTEGER NULL, 
	campaign_id INTEGER NULL, 
	lead_id INTEGER NULL, 
	converted_at DATETIME2 NOT NULL, 
	revenue NUMERIC(14, 2) NOT NULL, 
	row_version ROWVERSION NOT NULL, 
	PRIMARY KEY (conversion_id)
);
GO
IF NOT EXISTS (SELECT 1 FROM sys.indexes WHERE name = 'ix_conversions_campaign')
CREATE INDEX ix_conversions_campaign ON conversions (campaign_id);
GO
IF NOT EXISTS (SELECT 1 FROM sys.indexes WHERE name = 'ix_conversions_row_version')
CREATE INDEX ix_conversions_row_version ON conversions (row_version);
GO
IF OBJECT_ID('conversions_tombstones', 'U') IS NULL

CREATE TABLE conversions_tombstones (
	conversion_id INTEGER NOT NULL, 
	campaign_id INTEGER NULL, 
	row_version ROWVERSION NOT NULL
);
GO
IF NOT EXISTS (SELECT 1 FROM sys.indexes WHERE name = 'ix_conversions_tombstones_campaign')
CREATE INDEX ix_conversions_tombstones_campaign ON conversions_tombstones (campaign_id);
GO
IF NOT EXISTS (SELECT 1 FROM sys.indexes WHERE name = 'ix_conversions_tombstones_row_version')
CREATE INDEX ix_conversions_tombstones_row_version ON conversions_tombstones (row_version);
GO
IF OBJECT_ID('customers', 'U') IS NULL

CREATE TABLE customers (
	customer_id INTEGER NOT NULL, 
	first_name NVARCHAR(100) NOT NULL, 
	last_name NVARCHAR(100) NOT NULL, 
	email NVARCHAR(320) NOT NULL, 
	phone NVARCHAR(40) NULL, 
	street NVARCHAR(200) NULL, 
	city NVARCHAR(100) NULL, 
	postal_code NVARCHAR(20) NULL, 
	country VARCHAR(2) NOT NULL, 
	birth_date DATE NULL, 
	created_at DATETIME2 NOT NULL, 
	row_version ROWVERSION NOT NULL, 
	PRIMARY KEY (customer_id)
);
GO
IF NOT EXISTS (SELECT 1 FROM sys.indexes WHERE name = 'ix_customers_row_version')
CREATE INDEX ix_customers_row_version ON customers (row_version);
GO
IF OBJECT_ID('customers_tombstones', 'U') IS NULL

CREATE TABLE customers_tombstones (
	customer_id INTEGER NOT NULL, 
	row_version ROWVERSION NOT NULL
);
GO
IF NOT EXISTS (SELECT 1 FROM sys.indexes WHERE name = 'ix_customers_tombstones_row_version')
CREATE INDEX ix_customers_tombstones_row_version ON customers_tombstones (row_version);
GO
IF OBJECT_ID('leads', 'U') IS NULL

CREATE TABLE leads (
	lead_id INTEGER NOT NULL, 
	customer_id INTEGER NULL, 
	campaign_id INTEGER NULL, 
	created_at DATETIME2 NOT NULL, 
	status NVARCHAR(20) NOT NULL, 
	row_version ROWVERSION NOT NULL, 
	PRIMARY KEY (lead_id)
);
GO
IF NOT EXISTS (SELECT 1 FROM sys.indexes WHERE name = 'ix_leads_campaign')
CREATE INDEX ix_leads_campaign ON leads (campaign_id);
GO
IF NOT EXISTS (SELECT 1 FROM sys.indexes WHERE name = 'ix_leads_row_version')
CREATE INDEX ix_leads_row_version ON leads (row_version);
GO
IF OBJECT_ID('leads_tombstones', 'U') IS NULL

CREATE TABLE leads_tombstones (
	lead_id INTEGER NOT NULL, 
	campaign_id INTEGER NULL, 
	row_version ROWVERSION NOT NULL
);
GO
IF NOT EXISTS (SELECT 1 FROM sys.indexes WHERE name = 'ix_leads_tombstones_campaign')
CREATE INDEX ix_leads_tombstones_campaign ON leads_tombstones (campaign_id);
GO
IF NOT EXISTS (SELECT 1 FROM sys.indexes WHERE name = 'ix_leads_tombstones_row_version')
CREATE INDEX ix_leads_tombstones_row_version ON leads_tombstones (row_version);
GO
CREATE OR ALTER TRIGGER trg_customers_tombstone ON customers AFTER DELETE AS
BEGIN
    SET NOCOUNT ON;
    INSERT INTO customers_tombstones (customer_id)
    SELECT d.customer_id FROM deleted AS d;
END;
GO
CREATE OR ALTER TRIGGER trg_leads_tombstone ON leads AFTER DELETE AS
BEGIN
    SET NOCOUNT ON;
    INSERT INTO leads_tombstones (lead_id, campaign_id)
    SELECT d.lead_id, d.campaign_id FROM deleted AS d;
END;
GO
CREATE OR ALTER TRIGGER trg_conversions_tombstone ON conversions AFTER DELETE AS
BEGIN
    SET NOCOUNT ON;
    INSERT INTO conversions_tombstones (conversion_id, campaign_id)
    SELECT d.conversion_id, d.campaign_id FROM deleted AS d;
END;
GO
CREATE OR ALTER VIEW etl.v_customer AS
SELECT customers.customer_id, customers.first_name, customers.last_name, customers.email, customers.phone, customers.street, customers.city, customers.postal_code, customers.birth_date, customers.country, customers.created_at, CAST(customers.row_version AS BIGINT) AS change_version, customers.row_version 
FROM customers;
GO
CREATE OR ALTER VIEW etl.v_lead AS
SELECT leads.lead_id, leads.customer_id, leads.campaign_id, leads.created_at, leads.status, CAST(leads.row_version AS BIGINT) AS change_version, leads.row_version 
FROM leads;
GO
CREATE OR ALTER VIEW etl.v_conversion AS
SELECT conversions.conversion_id, conversions.customer_id, conversions.campaign_id, conversions.lead_id, conversions.converted_at, conversions.revenue, CAST(conversions.row_version AS BIGINT) AS change_version, conversions.row_version 
FROM conversions;
GO
CREATE OR ALTER VIEW etl.v_customer_deleted AS
SELECT customers_tombstones.customer_id, CAST(customers_tombstones.row_version AS BIGINT) AS change_version, customers_tombstones.row_version 
FROM customers_tombstones;
GO
CREATE OR ALTER VIEW etl.v_lead_deleted AS
SELECT leads_tombstones.lead_id, leads_tombstones.campaign_id, CAST(leads_tombstones.row_version AS BIGINT) AS change_version, leads_tombstones.row_version 
FROM leads_tombstones;
GO
CREATE OR ALTER VIEW etl.v_conversion_deleted AS
SELECT conversions_tombstones.conversion_id, conversions_tombstones.campaign_id, CAST(conversions_tombstones.row_version AS BIGINT) AS change_version, conversions_tombstones.row_version 
FROM conversions_tombstones;
GO
IF TYPE_ID(N'etl.customers_rows') IS NULL
CREATE TYPE etl.customers_rows AS TABLE (customer_id INTEGER NOT NULL, first_name NVARCHAR(100) NOT NULL, last_name NVARCHAR(100) NOT NULL, email NVARCHAR(320) NOT NULL, phone NVARCHAR(40), street NVARCHAR(200), city NVARCHAR(100), postal_code NVARCHAR(20), country VARCHAR(2) NOT NULL, birth_date DATE, created_at DATETIME2 NOT NULL, PRIMARY KEY (customer_id));
GO
IF TYPE_ID(N'etl.leads_rows') IS NULL
CREATE TYPE etl.leads_rows AS TABLE (lead_id INTEGER NOT NULL, customer_id INTEGER, campaign_id INTEGER, created_at DATETIME2 NOT NULL, status NVARCHAR(20) NOT NULL, PRIMARY KEY (lead_id));
GO
IF TYPE_ID(N'etl.conversions_rows') IS NULL
CREATE TYPE etl.conversions_rows AS TABLE (conversion_id INTEGER NOT NULL, customer_id INTEGER, campaign_id INTEGER, lead_id INTEGER, converted_at DATETIME2 NOT NULL, revenue NUMERIC(14, 2) NOT NULL, PRIMARY KEY (conversion_id));
GO
CREATE OR ALTER PROCEDURE etl.usp_ingest_customers @rows etl.customers_rows READONLY AS
BEGIN
    SET NOCOUNT ON;
    MERGE customers WITH (HOLDLOCK) AS t USING @rows AS s ON t.customer_id = s.customer_id
    WHEN MATCHED THEN UPDATE SET t.first_name = s.first_name, t.last_name = s.last_name, t.email = s.email, t.phone = s.phone, t.street = s.street, t.city = s.city, t.postal_code = s.postal_code, t.country = s.country, t.birth_date = s.birth_date, t.created_at = s.created_at
    WHEN NOT MATCHED BY TARGET THEN INSERT (customer_id, first_name, last_name, email, phone, street, city, postal_code, country, birth_date, created_at) VALUES (s.customer_id, s.first_name, s.last_name, s.email, s.phone, s.street, s.city, s.postal_code, s.country, s.birth_date, s.created_at);
END;
GO
CREATE OR ALTER PROCEDURE etl.usp_ingest_leads @rows etl.leads_rows READONLY AS
BEGIN
    SET NOCOUNT ON;
    MERGE leads WITH (HOLDLOCK) AS t USING @rows AS s ON t.lead_id = s.lead_id
    WHEN MATCHED THEN UPDATE SET t.customer_id = s.customer_id, t.campaign_id = s.campaign_id, t.created_at = s.created_at, t.status = s.status
    WHEN NOT MATCHED BY TARGET THEN INSERT (lead_id, customer_id, campaign_id, created_at, status) VALUES (s.lead_id, s.customer_id, s.campaign_id, s.created_at, s.status);
END;
GO
CREATE OR ALTER PROCEDURE etl.usp_ingest_conversions @rows etl.conversions_rows READONLY AS
BEGIN
    SET NOCOUNT ON;
    MERGE conversions WITH (HOLDLOCK) AS t USING @rows AS s ON t.conversion_id = s.conversion_id
    WHEN MATCHED THEN UPDATE SET t.customer_id = s.customer_id, t.campaign_id = s.campaign_id, t.lead_id = s.lead_id, t.converted_at = s.converted_at, t.revenue = s.revenue
    WHEN NOT MATCHED BY TARGET THEN INSERT (conversion_id, customer_id, campaign_id, lead_id, converted_at, revenue) VALUES (s.conversion_id, s.customer_id, s.campaign_id, s.lead_id, s.converted_at, s.revenue);
END;
GO
