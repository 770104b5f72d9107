"""What the operator would create and change for each example campaign, without a cluster.

Built from the operator's own pieces: its spec parser, its CronJob builder call
(``desired_cronjob``), the capacity formula with its default policy, and a real client
certificate issued from the local CA with the campaign's certificate settings. When a
cluster is at hand, ``promptsales operator run`` applies exactly these objects.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

import certs
from promptsales_operator.campaign import Campaign, parse_campaign
from promptsales_operator.reconcile import desired_cronjob
from promptsales_operator.settings import OperatorSettings
from workloads.capacity import CampaignDemand, CapacityPlan, plan_capacity
from workloads.common import CRD_KIND, GROUP
from workloads.names import certificate_secret_name

PLATFORM_NAMESPACE = "promptsales"


@dataclass(frozen=True)
class CampaignPreview:
    """The objects one campaign gets, summarised for a person."""

    campaign: Campaign
    window_state: str
    cronjob: dict[str, Any]
    certificate_subject: str
    certificate_not_after: dt.datetime
    certificate_renewal: dt.datetime
    secret_name: str


@dataclass(frozen=True)
class Preview:
    campaigns: list[CampaignPreview]
    capacity: CapacityPlan


def load_examples(directory: Path) -> list[Campaign]:
    """The valid example campaigns (``examples/*.yaml``; ``examples/invalid`` is skipped)."""
    campaigns: list[Campaign] = []
    for path in sorted(directory.glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            if not isinstance(document, dict) or document.get("kind") != CRD_KIND:
                continue
            meta = dict(document.get("metadata") or {})
            meta.setdefault("namespace", PLATFORM_NAMESPACE)
            # A stable stand-in uid, as the API server would assign on create.
            meta.setdefault("uid", str(uuid.uuid5(uuid.NAMESPACE_URL, f"{GROUP}/{meta['name']}")))
            campaigns.append(parse_campaign({**document, "metadata": meta}))
    return campaigns


def cronjob_command(campaign: Campaign, now: dt.datetime) -> tuple[list[str], dict[str, str], bool]:
    """The campaign CronJob's command, plain environment, and whether it is suspended now."""
    manifest = desired_cronjob(campaign, campaign.window_state(now), OperatorSettings().image)
    container = manifest["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    env = {item["name"]: item["value"] for item in container.get("env", []) if "value" in item}
    command = list(container["command"]) + list(container.get("args", []))
    return command, env, bool(manifest["spec"].get("suspend", False))


def preview(
    campaigns: list[Campaign], *, ca_cert: Path, ca_key: Path, now: dt.datetime | None = None
) -> Preview:
    now = now or dt.datetime.now(dt.UTC)
    authority = certs.authority_for_key(
        certs.load_certificates(ca_cert.read_text(), field=str(ca_cert)),
        certs.load_private_key(ca_key.read_text(), field=str(ca_key)),
    )
    settings = OperatorSettings()
    items: list[CampaignPreview] = []
    for campaign in campaigns:
        state = campaign.window_state(now)
        leaf = certs.issue_client_certificate(
            authority,
            campaign_name=campaign.name,
            campaign_id=campaign.campaign_id,
            role=campaign.role,
            validity=campaign.validity,
            key_algorithm=certs.KeyAlgorithm(campaign.key_algorithm),
            now=now,
        )
        items.append(
            CampaignPreview(
                campaign=campaign,
                window_state=str(state),
                cronjob=desired_cronjob(campaign, state, settings.image),
                certificate_subject=leaf.certificate.subject.rfc4514_string(),
                certificate_not_after=leaf.certificate.not_valid_after_utc,
                certificate_renewal=certs.certificate_renewal_time(
                    leaf.certificate, renew_before=campaign.renew_before
                ),
                secret_name=certificate_secret_name(campaign.name),
            )
        )
    policy = settings.capacity_policy()  # the operator's own policy, defaults included
    demands = [
        CampaignDemand(
            name=c.campaign.name,
            requests_per_second=c.campaign.requests_per_second,
            peak_requests_per_second=c.campaign.peak_requests_per_second,
            active=c.window_state == "active",
        )
        for c in items
    ]
    return Preview(items, plan_capacity(demands, policy))


def render(plan: Preview) -> str:
    lines = ["Operator preview (same builders the operator runs; nothing applied to a cluster):"]
    for item in plan.campaigns:
        spec = item.cronjob["spec"]
        lines += [
            f"  PromptSalesCampaign {item.campaign.name} (campaign {item.campaign.campaign_id}, "
            f"window {item.window_state})",
            f"    CronJob {item.cronjob['metadata']['name']}: schedule '{spec['schedule']}', "
            f"suspend={spec.get('suspend', False)}, concurrencyPolicy {spec['concurrencyPolicy']}",
            f"    Secret {item.secret_name} (kubernetes.io/tls): {item.certificate_subject}, "
            f"notAfter {item.certificate_not_after:%Y-%m-%d}, "
            f"renews {item.certificate_renewal:%Y-%m-%d}",
        ]
    cap = plan.capacity
    lines.append(
        f"  Capacity: {cap.active_campaigns} active campaigns, "
        f"{cap.total_requests_per_second:g} req/s -> promptsales-mcp replicas "
        f"{cap.mcp_replicas}, promptsales-cache replicas {cap.cache_replicas}"
    )
    return "\n".join(lines)
