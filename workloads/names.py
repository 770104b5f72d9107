"""Child object names derived from a campaign name, within Kubernetes' length limits.

A CronJob name may have at most 52 characters (its Jobs append 11), a Secret 253; a long
campaign name is cut and suffixed with a hash of the full name so two long names that share
a prefix still get different children.
"""

from __future__ import annotations

import hashlib

CRONJOB_NAME_MAX = 52
SECRET_NAME_MAX = 253


def child_name(parent: str, suffix: str, limit: int) -> str:
    """``<parent>-<suffix>``, or a hashed shortening of it when longer than ``limit``."""
    full = f"{parent}-{suffix}"
    if len(full) <= limit:
        return full
    digest = hashlib.sha256(parent.encode()).hexdigest()[:8]
    keep = limit - len(suffix) - len(digest) - 2
    return f"{parent[:keep].rstrip('-.')}-{digest}-{suffix}"


def etl_cronjob_name(campaign: str) -> str:
    return child_name(campaign, "etl", CRONJOB_NAME_MAX)


def certificate_secret_name(campaign: str) -> str:
    return child_name(campaign, "client-tls", SECRET_NAME_MAX)
