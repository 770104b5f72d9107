"""The per-campaign ETL CronJob: runs ``promptsales etl run --campaign-id <id>`` on a schedule.

Why each setting: ``Forbid`` so a slow load never overlaps the next one (the ETL is
incremental and exactly-once per change, two runs would only contend); deadlines so a hung
source cannot hold a slot forever; credentials only as files from the
``promptsales-etl-credentials`` Secret (never environment variables, which leak into
``kubectl describe`` and crash dumps); the restricted Pod Security profile throughout.

A schedule of the form ``*/N * * * *`` (every N minutes; the campaign API's default is
every 11) is spread over its interval by a stable offset derived from the campaign's
namespace and name, so a thousand campaigns do not hit PromptAds in the same minute. The
rule is the schedule's shape, not equality with the default, so changing the default in
the API keeps the spreading.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from workloads.campaign_api import API_VERSION as CAMPAIGN_API_VERSION
from workloads.campaign_api import DEFAULT_SCHEDULE
from workloads.campaign_api import KIND as CAMPAIGN_KIND
from workloads.common import (
    DEFAULT_IMAGE,
    Manifest,
    container_security_context,
    labels,
    owner_reference,
    pod_security_context,
    resources,
    tmp_volume,
)
from workloads.names import etl_cronjob_name
from workloads.pods import PII_KEYRING_FILE_ENV, PII_MOUNT, pii_keyring_volume

COMPONENT = "etl"
# The hash of the spec the operator last wrote, so it can tell a spec it changed on
# purpose (the campaign changed: "updated") from one changed by hand ("repaired").
SPEC_HASH_ANNOTATION = "promptsales.io/spec-hash"
EVERY_N_MINUTES = re.compile(r"^\*/([1-9][0-9]?) \* \* \* \*$")
ETL_CREDENTIALS_SECRET = "promptsales-etl-credentials"  # noqa: S105 (a Secret's name)
SECRETS_MOUNT_PATH = "/var/run/secrets/promptsales"


def schedule_offset(namespace: str, name: str, interval: int) -> int:
    """A minute in ``[0, interval)`` that is the same for a campaign on every pass and restart."""
    digest = hashlib.sha256(f"{namespace}/{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % interval


def effective_schedule(schedule: str, namespace: str, name: str) -> str:
    """``*/N * * * *`` spread by the campaign's offset; any other schedule as written."""
    match = EVERY_N_MINUTES.fullmatch(" ".join(schedule.split()))
    if match is None:
        return schedule
    interval = int(match.group(1))
    if interval == 1 or interval > 59:
        return schedule
    offset = schedule_offset(namespace, name, interval)
    return f"{offset}-59/{interval} * * * *"


def spec_hash(spec: Mapping[str, Any]) -> str:
    """A stable digest of a CronJob spec as the builder writes it."""
    canonical = json.dumps(spec, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class EtlCronJobSpec:
    """Everything the builder needs from a campaign (no Kubernetes client objects)."""

    campaign_name: str
    campaign_uid: str
    campaign_id: str
    namespace: str
    schedule: str = DEFAULT_SCHEDULE
    suspend: bool = False
    sources: Sequence[str] = ("ads", "crm")
    active_deadline_seconds: int = 600
    image: str = DEFAULT_IMAGE


def build_etl_cronjob(spec: EtlCronJobSpec) -> Manifest:
    """A batch/v1 CronJob owned by the campaign, ready to create or compare."""
    object_labels = labels(COMPONENT, "promptsales-operator", spec.campaign_name)
    container: Manifest = {
        "name": "etl",
        "image": spec.image,
        "imagePullPolicy": "IfNotPresent",
        "command": ["promptsales", "etl", "run", "--campaign-id", spec.campaign_id],
        "env": [
            {"name": "PROMPTSALES_SECRETS_DIR", "value": SECRETS_MOUNT_PATH},
            {"name": "PROMPTSALES_ETL_SOURCES", "value": ",".join(spec.sources)},
            PII_KEYRING_FILE_ENV,
        ],
        "resources": resources("100m", "256Mi", "1", "512Mi"),
        "securityContext": container_security_context(),
        "volumeMounts": [
            {"name": "etl-credentials", "mountPath": SECRETS_MOUNT_PATH, "readOnly": True},
            {"name": "pii-keyring", "mountPath": PII_MOUNT, "readOnly": True},
            {"name": "tmp", "mountPath": "/tmp"},  # noqa: S108 (an emptyDir, not the host's /tmp)
        ],
        "terminationMessagePolicy": "FallbackToLogsOnError",
    }
    pod_spec: Manifest = {
        "restartPolicy": "Never",
        "automountServiceAccountToken": False,
        "securityContext": pod_security_context(),
        "containers": [container],
        "volumes": [
            {
                "name": "etl-credentials",
                "secret": {"secretName": ETL_CREDENTIALS_SECRET, "defaultMode": 0o440},
            },
            pii_keyring_volume(),
            tmp_volume(),
        ],
    }
    cron_spec: Manifest = {
        "schedule": effective_schedule(spec.schedule, spec.namespace, spec.campaign_name),
        "timeZone": "Etc/UTC",
        "suspend": spec.suspend,
        "concurrencyPolicy": "Forbid",
        "startingDeadlineSeconds": 300,
        "successfulJobsHistoryLimit": 3,
        "failedJobsHistoryLimit": 3,
        "jobTemplate": {
            "metadata": {"labels": object_labels},
            "spec": {
                "backoffLimit": 2,
                "activeDeadlineSeconds": spec.active_deadline_seconds,
                "ttlSecondsAfterFinished": 86400,
                "template": {"metadata": {"labels": object_labels}, "spec": pod_spec},
            },
        },
    }
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {
            "name": etl_cronjob_name(spec.campaign_name),
            "namespace": spec.namespace,
            "labels": object_labels,
            "annotations": {SPEC_HASH_ANNOTATION: spec_hash(cron_spec)},
            "ownerReferences": [
                owner_reference(
                    CAMPAIGN_API_VERSION, CAMPAIGN_KIND, spec.campaign_name, spec.campaign_uid
                )
            ],
        },
        "spec": cron_spec,
    }
