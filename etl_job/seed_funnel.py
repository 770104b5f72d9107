"""The marketing model behind the seed: campaigns with lifecycles, a paced budget and one funnel.

Pure functions of a seeded numpy ``Generator`` (no I/O; :mod:`etl_job.seed` writes the
rows). Everything is generated column-wise, so the design scale (1,000 campaigns, 500,000
customers, 90 days) stays a matter of seconds.

What a marketing analyst checks first, and how the model answers it:

- **Channels differ** the way public industry benchmarks put them (paid search click-
  through of several percent at the highest cost per click; social around one percent at
  about a dollar; display and video well under one percent and cheap per click but weak on
  sales; email cheap with the best return; affiliate in between). :data:`PROFILES` holds
  the medians; each campaign draws its own rates around them.
- **One funnel**: clicks come from impressions at the campaign's click-through rate,
  leads from clicks at its lead rate, sales from leads at its close rate, revenue from
  sales at its order value; spend is clicks times cost per click. The ad platform's own
  conversion count over-attributes (view-through, cross-device) by a channel factor: more
  than the CRM's sales, never dozens of times more.
- **A spread of good and bad campaigns**: a campaign quality multiplies its lead and
  close rates, so its return on ad spend ranges from well under break-even to several
  times it.
- **Real lifecycles**: campaigns start over the half year before the last day; some
  finished (completed, end date in the past), some run (active, with or without an end
  date), some were paused, some are scheduled (draft, no delivery yet). Delivery happens
  only between start and end or pause, and spend is paced against the budget (a few
  campaigns overspend by a few percent, as platforms allow).
- **Time has a shape**: weekday patterns per channel (search and email dip at weekends,
  social and video rise), a ramp-up in a campaign's first days, and day-to-day noise that
  persists (an AR(1) process), so neighbouring days look alike.
- **Ordered timelines**: a customer exists before their first lead, a sale follows its
  lead by days, and nothing is dated after the last day. Lead statuses follow age and
  outcome: recent leads are new, converted ones won, others qualified or lost.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

SECONDS_PER_DAY = 86_400


@dataclass(frozen=True)
class ChannelProfile:
    """Median rates of one channel; each campaign draws its own around them."""

    channel_id: int
    name: str
    kind: str
    ctr: float
    """Clicks per impression."""
    cpc: float
    """Dollars per click."""
    lead_rate: float
    """Leads per click."""
    close_rate: float
    """Sales per lead."""
    platform_factor: float
    """Conversions the ad platform reports per CRM sale (over-attribution)."""
    weekend: float
    """Delivery on Saturday and Sunday relative to a weekday."""
    budget: float
    """Relative budget size (an email send costs a fraction of a search campaign)."""


PROFILES: tuple[ChannelProfile, ...] = (
    ChannelProfile(1, "Search", "search", 0.045, 2.60, 0.055, 0.20, 1.3, 0.75, 1.5),
    ChannelProfile(2, "Social", "social", 0.011, 1.10, 0.045, 0.08, 1.6, 1.15, 1.0),
    ChannelProfile(3, "Display", "display", 0.005, 0.75, 0.012, 0.06, 2.6, 0.95, 0.8),
    ChannelProfile(4, "Video", "video", 0.007, 1.20, 0.015, 0.07, 2.2, 1.20, 1.2),
    ChannelProfile(5, "Email", "email", 0.025, 0.20, 0.040, 0.25, 1.1, 0.60, 0.1),
    ChannelProfile(6, "Affiliate", "affiliate", 0.009, 0.90, 0.030, 0.15, 1.4, 0.90, 0.6),
)
CHANNEL_MIX = np.array([0.30, 0.25, 0.15, 0.10, 0.10, 0.10])
"""Share of campaigns per channel (search and social carry most budgets)."""
ORDER_VALUE = 450.0
"""Median order value in dollars; each campaign (its product) draws its own."""
LEADS_PER_CUSTOMER = 0.6
"""Leads in the window per CRM customer: the size of the CRM sets the size of the funnel."""


@dataclass(frozen=True)
class Campaigns:
    """One entry per campaign (arrays of equal length)."""

    channel: np.ndarray  # index into PROFILES
    status: list[str]
    start: np.ndarray  # day offsets from the window's first day (may be negative)
    end: np.ndarray  # last delivery day offset (inclusive); end_date when ``has_end``
    has_end: np.ndarray
    stop: np.ndarray  # last day with delivery in the window (offset), < first if none
    first: np.ndarray  # first day with delivery in the window (offset)
    budget_cents: np.ndarray
    ctr: np.ndarray
    cpc: np.ndarray
    lead_rate: np.ndarray
    close_rate: np.ndarray
    order_value: np.ndarray


def campaigns(rng: np.random.Generator, n: int, days: int) -> Campaigns:
    """Channels, lifecycles and rates of ``n`` campaigns over a window of ``days`` days."""
    channel = rng.choice(len(PROFILES), n, p=CHANNEL_MIX)
    last = days - 1
    start = last - rng.integers(-10, days + 110, n)
    duration = rng.integers(21, 150, n)
    end = start + duration - 1
    has_end = rng.random(n) < 0.7
    paused = rng.random(n) < 0.08
    pause_day = last - rng.integers(3, 25, n)
    status = []
    stop = np.minimum(end, last)
    for i in range(n):
        if start[i] > last:
            status.append("draft")
        elif has_end[i] and end[i] < last:
            status.append("completed")
        elif paused[i] and pause_day[i] >= start[i]:
            status.append("paused")
            stop[i] = pause_day[i]
        else:
            status.append("active")
            stop[i] = last if not has_end[i] else min(end[i], last)
    status_arr = np.array(status)
    completed = status_arr == "completed"
    has_end = has_end | completed
    first = np.maximum(start, 0)
    quality = rng.lognormal(0.0, 0.35, n)
    ctr = np.array([PROFILES[c].ctr for c in channel]) * rng.lognormal(0, 0.25, n)
    cpc = np.array([PROFILES[c].cpc for c in channel]) * rng.lognormal(0, 0.2, n)
    lead_rate = np.array([PROFILES[c].lead_rate for c in channel]) * quality
    close_rate = np.minimum(
        np.array([PROFILES[c].close_rate for c in channel]) * quality * rng.lognormal(0, 0.2, n),
        0.6,
    )
    order_value = ORDER_VALUE * rng.lognormal(0, 0.35, n)
    # Budget for the whole flight, drawn here; the spend is fitted to it in metrics().
    size = np.array([PROFILES[c].budget for c in channel])
    budget_cents = np.round(size * rng.lognormal(np.log(12_000), 0.8, n) * 100).astype(np.int64)
    return Campaigns(
        channel=channel,
        status=status,
        start=start,
        end=end,
        has_end=has_end,
        stop=stop,
        first=first,
        budget_cents=budget_cents,
        ctr=ctr,
        cpc=cpc,
        lead_rate=lead_rate,
        close_rate=close_rate,
        order_value=order_value,
    )


@dataclass(frozen=True)
class Metrics:
    """Daily ad metrics of every ad on every day it delivered (row arrays)."""

    ad_index: np.ndarray  # index into the ads arrays
    day: np.ndarray  # offset in the window
    impressions: np.ndarray
    clicks: np.ndarray
    spend_cents: np.ndarray
    platform_conversions: np.ndarray
    expected_leads: np.ndarray  # the funnel's expectation, for drawing the CRM's leads


def _daily_shape(
    rng: np.random.Generator, camp: Campaigns, ad_campaign: np.ndarray, window: dt.date, days: int
) -> np.ndarray:
    """Relative delivery per ad (rows) and day (columns); 0 outside the campaign's flight."""
    n_ads = ad_campaign.size
    offsets = np.arange(days)
    weekday = np.array([(window + dt.timedelta(days=int(d))).isoweekday() for d in offsets])
    weekend = np.array([PROFILES[c].weekend for c in camp.channel])[ad_campaign]
    shape = np.where(weekday[None, :] >= 6, weekend[:, None], 1.0)
    # Ramp-up over the first days of the flight, then steady.
    since_start = offsets[None, :] - camp.start[ad_campaign][:, None]
    shape = shape * np.clip((since_start + 1) / 5.0, 0.25, 1.0)
    # Persistent noise: yesterday's deviation carries over (AR(1), phi 0.7).
    noise = np.empty((n_ads, days))
    level = rng.normal(0, 0.2, n_ads)
    for d in range(days):
        level = 0.7 * level + rng.normal(0, 0.14, n_ads)
        noise[:, d] = level
    shape = shape * np.exp(noise)
    live = (offsets[None, :] >= camp.first[ad_campaign][:, None]) & (
        offsets[None, :] <= camp.stop[ad_campaign][:, None]
    )
    return np.where(live, shape, 0.0)


def metrics(
    rng: np.random.Generator,
    camp: Campaigns,
    ad_campaign: np.ndarray,
    window: dt.date,
    days: int,
    total_leads: int,
) -> Metrics:
    """Impressions, clicks, spend and platform conversions of every ad and live day.

    The funnel is sized by ``total_leads`` (the CRM's size), spread over campaigns by
    budget and days live; a campaign's clicks are its leads over its lead rate, its
    impressions its clicks over its click-through rate, its spend clicks times cost per
    click. Budgets are then set from the spend: a flight's budget covers its whole
    duration, paced so that most campaigns end a little under it.
    """
    n = camp.channel.size
    shape = _daily_shape(rng, camp, ad_campaign, window, days)
    ad_share = rng.lognormal(0, 0.5, ad_campaign.size)  # some ads carry the campaign
    per_ad = shape * ad_share[:, None]
    campaign_weight = np.zeros(n)
    np.add.at(campaign_weight, ad_campaign, per_ad.sum(axis=1))
    budget_weight = camp.budget_cents / camp.budget_cents.mean()
    live_days = np.clip(camp.stop - camp.first + 1, 0, None)
    leads_c = np.where(
        live_days > 0, budget_weight * live_days / camp.cpc * camp.lead_rate * 40.0, 0.0
    )
    if leads_c.sum() > 0:
        leads_c = leads_c * (total_leads / leads_c.sum())
    clicks_c = leads_c / camp.lead_rate
    with np.errstate(invalid="ignore", divide="ignore"):
        scale = np.where(campaign_weight > 0, clicks_c / campaign_weight, 0.0)
    expected_clicks = per_ad * scale[ad_campaign][:, None]
    ad_idx, day = np.nonzero(expected_clicks > 0)
    exp_clicks = expected_clicks[ad_idx, day]
    c = ad_campaign[ad_idx]
    clicks = rng.poisson(exp_clicks)
    ctr = camp.ctr[c] * rng.lognormal(0, 0.08, c.size)
    impressions = np.maximum(rng.poisson(exp_clicks / ctr), clicks)
    cpc = camp.cpc[c] * rng.lognormal(0, 0.1, c.size)
    spend_cents = np.round(clicks * cpc * 100).astype(np.int64)
    expected_leads = exp_clicks * camp.lead_rate[c]
    platform = np.array([PROFILES[k].platform_factor for k in camp.channel])[c]
    platform_conversions = rng.poisson(
        expected_leads * camp.close_rate[c] * platform * rng.lognormal(0, 0.2, c.size)
    )
    _pace_budgets(rng, camp, c, spend_cents)
    return Metrics(
        ad_index=ad_idx,
        day=day,
        impressions=impressions.astype(np.int64),
        clicks=clicks.astype(np.int64),
        spend_cents=spend_cents,
        platform_conversions=platform_conversions.astype(np.int64),
        expected_leads=expected_leads,
    )


def _pace_budgets(
    rng: np.random.Generator,
    camp: Campaigns,
    row_campaign: np.ndarray,
    spend_cents: np.ndarray,
) -> None:
    """Set each budget from its flight's spend: spent so far / (share of flight elapsed x pace).

    Pace is 0.82-0.99 of budget for most campaigns, up to 1.04 for one in thirty
    (platforms let daily spend overshoot). A flight without an end date is budgeted
    for 120 days. A campaign with no delivery in the window keeps its drawn budget.
    """
    spent = np.zeros(camp.channel.size, dtype=np.int64)
    np.add.at(spent, row_campaign, spend_cents)
    flight = np.where(camp.has_end, camp.end - camp.start + 1, 120)
    delivered_days = np.clip(camp.stop - camp.start + 1, 1, None)
    # Spend before the window started is not in the metrics; scale to the whole flight.
    in_window = np.clip(camp.stop - camp.first + 1, 1, None)
    elapsed = np.clip(delivered_days / flight, 0.05, 1.0)
    overshoot = rng.random(spent.size) < 1 / 30
    pace = np.where(
        overshoot, rng.uniform(1.0, 1.04, spent.size), rng.uniform(0.82, 0.99, spent.size)
    )
    whole = spent * (delivered_days / in_window)
    budget = np.ceil(whole / (elapsed * pace) / 100.0) * 100
    has_spend = spent > 0
    camp.budget_cents[has_spend] = budget[has_spend].astype(np.int64)


@dataclass(frozen=True)
class Funnel:
    """CRM rows: leads (with their customer and status) and the sales among them."""

    lead_campaign: np.ndarray
    lead_customer: np.ndarray  # 1-based customer ids
    lead_at: np.ndarray  # seconds from the window's first midnight
    lead_status: list[str]
    sale_lead: np.ndarray  # indexes into the lead arrays
    sale_at: np.ndarray  # seconds from the window's first midnight
    sale_revenue_cents: np.ndarray
    customer_created: np.ndarray  # seconds from the window's first midnight (may be < 0)


def funnel(
    rng: np.random.Generator,
    camp: Campaigns,
    ad_campaign: np.ndarray,
    rows: Metrics,
    customers: int,
    total_leads: int,
    days: int,
) -> Funnel:
    """Leads where the clicks were, sales after them, customers created before both."""
    p = rows.expected_leads / rows.expected_leads.sum()
    per_row = rng.multinomial(total_leads, p)
    row = np.repeat(np.arange(per_row.size), per_row)
    lead_campaign = ad_campaign[rows.ad_index[row]]
    # Office-hours peak, some evening traffic.
    second_of_day = np.clip(rng.normal(14.5 * 3600, 3.5 * 3600, row.size), 0, SECONDS_PER_DAY - 1)
    lead_at = rows.day[row].astype(np.int64) * SECONDS_PER_DAY + second_of_day.astype(np.int64)
    order = np.argsort(lead_at, kind="stable")  # lead ids in time order, as a CRM hands out
    lead_campaign, lead_at = lead_campaign[order], lead_at[order]
    n_leads = lead_at.size
    lead_customer = rng.integers(1, customers + 1, n_leads)
    end_of_window = days * SECONDS_PER_DAY - 1
    will_buy = rng.random(n_leads) < camp.close_rate[lead_campaign]
    delay = (rng.gamma(2.0, 3.0, n_leads) * SECONDS_PER_DAY).astype(np.int64) + 1800
    sale_at_all = lead_at + delay
    sold = will_buy & (sale_at_all <= end_of_window)
    age_days = (end_of_window - lead_at) / SECONDS_PER_DAY
    still_open = rng.random(n_leads) < 0.35
    status = np.where(
        sold,
        "won",
        np.where(
            will_buy | (age_days < 3),
            np.where(age_days < 3, "new", "qualified"),
            np.where(still_open, "qualified", "lost"),
        ),
    )
    sale_lead = np.nonzero(sold)[0]
    revenue = camp.order_value[lead_campaign[sale_lead]] * rng.lognormal(0, 0.45, sale_lead.size)
    revenue_cents = np.maximum(np.round(revenue * 100), 500).astype(np.int64)
    # A customer exists before their first lead: up to weeks before it; customers without
    # a lead in the window joined at any time over the three years before its end.
    first_lead = np.full(customers + 1, np.iinfo(np.int64).max)
    np.minimum.at(first_lead, lead_customer, lead_at)
    first_lead = first_lead[1:]
    lead_time = rng.exponential(20 * SECONDS_PER_DAY, customers).astype(np.int64) + 60
    unattached = rng.integers(-3 * 365 * SECONDS_PER_DAY, end_of_window, customers)
    created = np.where(first_lead < np.iinfo(np.int64).max, first_lead - lead_time, unattached)
    return Funnel(
        lead_campaign=lead_campaign,
        lead_customer=lead_customer,
        lead_at=lead_at,
        lead_status=status.tolist(),
        sale_lead=sale_lead,
        sale_at=sale_at_all[sale_lead],
        sale_revenue_cents=revenue_cents,
        customer_created=created,
    )
