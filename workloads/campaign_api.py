"""The ``PromptSalesCampaign`` API (promptsales.io/v1alpha1) as typed models: its one definition.

Everything about the campaign API is written here once, in the manner of CloudNativePG's
``api/v1`` types: field names, types, bounds, defaults, descriptions and the CEL rules the
API server enforces. :mod:`workloads.crd` generates the CRD in ``crds/`` from these models
(a test fails when that file is stale), and the operator parses campaigns with them, so
the defaults the API server fills in and the ones the operator assumes cannot differ.

Each CEL rule is declared next to the Python check that mirrors it (:class:`CelRule`):
the API server runs the CEL, the operator runs the Python on objects the server admitted
before a rule existed, and a test evaluates both on the same inputs.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Callable
from typing import Annotated, Any, ClassVar, Literal, Self

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

GROUP = "promptsales.io"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
KIND = "PromptSalesCampaign"
LIST_KIND = "PromptSalesCampaignList"
PLURAL = "promptsalescampaigns"
SINGULAR = "promptsalescampaign"
SHORT_NAMES = ("psc",)
NAME_MAX_LENGTH = 63  # metadata.name is the CN of the campaign's client certificate

DEFAULT_SCHEDULE = "*/11 * * * *"
DEFAULT_VALIDITY = "2160h"
DEFAULT_RENEW_BEFORE = "720h"

Role = Literal["marketing", "sales", "user"]
KeyAlgorithm = Literal["ECDSA-P256", "RSA-2048", "RSA-3072", "RSA-4096"]
Source = Literal["ads", "crm"]
ALL_SOURCES: tuple[Source, ...] = ("ads", "crm")

_DURATION_PATTERN = r"^([0-9]+h)?([0-9]+m)?([0-9]+s)?$"
_DURATION = re.compile(_DURATION_PATTERN)
Duration = Annotated[str, StringConstraints(pattern=_DURATION_PATTERN, min_length=2, max_length=24)]


def parse_duration(text: str) -> dt.timedelta:
    """A Go-style duration of hours, minutes and seconds (``2160h``, ``90m``, ``1h30m``)."""
    match = _DURATION.fullmatch(text)
    if not text or match is None:
        raise ValueError(f"{text!r} is not a duration like 2160h or 90m")
    hours, minutes, seconds = (int(g[:-1]) if g else 0 for g in match.groups())
    return dt.timedelta(hours=hours, minutes=minutes, seconds=seconds)


@dataclasses.dataclass(frozen=True)
class CelRule:
    """One ``x-kubernetes-validations`` rule and the Python check that means the same.

    ``check`` answers True when the object is valid; it is given the validated model.
    ``field_path`` makes the API server name the field the rule is about.
    """

    rule: str
    message: str
    check: Callable[[Any], bool]
    field_path: str | None = None
    reason: str | None = None

    def manifest(self) -> dict[str, str]:
        result = {"rule": self.rule, "message": self.message}
        if self.field_path is not None:
            result["fieldPath"] = self.field_path
        if self.reason is not None:
            result["reason"] = self.reason
        return result


class ApiModel(BaseModel):
    """camelCase on the wire, snake_case in Python; unknown fields are an error.

    ``CEL_RULES`` are emitted into the CRD on this object's schema and checked after
    validation, so a violation reads the same from kubectl and from the operator.
    """

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True
    )
    CEL_RULES: ClassVar[tuple[CelRule, ...]] = ()

    @model_validator(mode="after")
    def _cel_rules_hold(self) -> Self:
        for rule in self.CEL_RULES:
            if not rule.check(self):
                raise ValueError(rule.message)
        return self


# --- spec -----------------------------------------------------------------------------------


class Window(ApiModel):
    """When the campaign is active. Outside the window the ETL CronJob is suspended and the
    campaign adds no demand; after the end it is Completed. Omit a bound for an open-ended
    window."""

    CEL_RULES = (
        CelRule(
            "!has(self.start) || !has(self.end) || timestamp(self.end) > timestamp(self.start)",
            "window.end must be after window.start",
            lambda w: w.start is None or w.end is None or w.end > w.start,
        ),
    )

    start: AwareDatetime | None = Field(
        None,
        description="First instant of activity (RFC 3339, e.g. 2026-12-01T00:00:00Z).",
        json_schema_extra={"maxLength": 64},
    )
    end: AwareDatetime | None = Field(
        None,
        description="Instant the campaign ends (RFC 3339); must be after start.",
        json_schema_extra={"maxLength": 64},
    )


class Etl(ApiModel):
    """How the campaign's data is moved into the PromptSales warehouse."""

    schedule: str = Field(
        DEFAULT_SCHEDULE,
        max_length=100,
        pattern=r"^(\S+\s+){4}\S+$",
        description=(
            "Cron schedule (5 fields, UTC) of the ETL CronJob. A schedule of the form "
            "'*/N * * * *' (every N minutes, the default every 11) is spread by a stable "
            "per-campaign minute offset so a thousand campaigns do not start together; "
            "write 0-59/N to run at minute 0 exactly. Any other value is used as written."
        ),
    )
    suspend: bool = Field(
        False, description="Pause the ETL schedule without deleting the campaign."
    )
    sources: list[Annotated[Source, Field(description="A source system.")]] = Field(
        default_factory=lambda: list(ALL_SOURCES),
        min_length=1,
        max_length=2,
        description="Which source systems to load (PromptAds ads data, PromptCRM customers).",
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )
    active_deadline_seconds: int = Field(
        600, ge=60, le=3600, description="Longest one ETL run may take before Kubernetes stops it."
    )

    @field_validator("sources")
    @classmethod
    def _sources_are_a_set(cls, sources: list[Source]) -> list[Source]:
        # What x-kubernetes-list-type: set makes the API server enforce.
        if len(set(sources)) != len(sources):
            raise ValueError("duplicate entries (each source at most once)")
        return sources


def _renew_before_shorter(cert: Certificate) -> bool:
    return parse_duration(cert.renew_before) < parse_duration(cert.validity)


class Certificate(ApiModel):
    """The X.509 client certificate the campaign's AI agents present to the MCP server."""

    CEL_RULES = (
        CelRule(
            "duration(self.renewBefore) < duration(self.validity)",
            "certificate.renewBefore must be shorter than certificate.validity",
            _renew_before_shorter,
            field_path=".renewBefore",
        ),
        CelRule(
            "duration(self.validity) >= duration('1h')",
            "certificate.validity must be at least 1h",
            lambda c: parse_duration(c.validity) >= dt.timedelta(hours=1),
            field_path=".validity",
        ),
    )

    role: Role = Field(
        "marketing",
        description=(
            "Agent role the certificate grants (subject OU and SPIFFE URI); the MCP server "
            "authorises by it."
        ),
    )
    validity: Duration = Field(
        DEFAULT_VALIDITY,
        description="Lifetime of each issued certificate as a duration (e.g. 2160h = 90 days).",
    )
    renew_before: Duration = Field(
        DEFAULT_RENEW_BEFORE,
        description="How long before expiry a new certificate (with a new key) is issued.",
    )
    key_algorithm: KeyAlgorithm = Field(
        "ECDSA-P256",
        description=(
            "Private key algorithm of the certificate (ECDSA P-256 is fastest to issue and renew)."
        ),
    )


class Demand(ApiModel):
    """Expected load of the campaign's agents; drives scaling of the shared MCP server and
    cache."""

    CEL_RULES = (
        CelRule(
            "!has(self.peakRequestsPerSecond) || self.peakRequestsPerSecond >= "
            "self.requestsPerSecond",
            "demand.peakRequestsPerSecond must not be below demand.requestsPerSecond",
            lambda d: (
                d.peak_requests_per_second is None
                or d.peak_requests_per_second >= d.requests_per_second
            ),
            field_path=".peakRequestsPerSecond",
        ),
    )

    requests_per_second: float = Field(
        1.0,
        ge=0,
        le=10_000,
        description="Average MCP requests per second the campaign's agents make while active.",
    )
    peak_requests_per_second: float | None = Field(
        None,
        ge=0,
        le=100_000,
        description=(
            "Short-burst peak requests per second; capacity is planned for the larger of the "
            "average and half the peak. Must not be below the average."
        ),
    )


class CampaignSpec(ApiModel):
    """What the marketing team asks for; the operator makes it so."""

    campaign_id: str = Field(
        ...,
        min_length=1,
        max_length=18,
        pattern=r"^[1-9][0-9]*$",
        description=(
            "Id of the campaign in PromptAds (a positive integer, written as a string). The "
            "ETL job loads this campaign's data, the client certificate names it and the MCP "
            "server scopes the certificate to it; it cannot change once set."
        ),
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "self == oldSelf",
                    "message": "campaignId is immutable; create a new campaign instead",
                    "reason": "FieldValueForbidden",
                }
            ]
        },
    )
    display_name: str = Field(
        ...,
        min_length=1,
        max_length=128,
        description="Human-readable campaign name shown to people and agents.",
    )
    window: Window | None = Field(None, description=Window.__doc__)
    etl: Etl = Field(default_factory=Etl, description=Etl.__doc__)
    certificate: Certificate = Field(default_factory=Certificate, description=Certificate.__doc__)
    demand: Demand = Field(default_factory=Demand, description=Demand.__doc__)


# --- status (written only by the operator) --------------------------------------------------

ConditionStatus = Literal["True", "False", "Unknown"]
Phase = Literal["Provisioning", "Scheduled", "Active", "Suspended", "Completed", "Stalled"]


class Condition(ApiModel):
    """One observation of one aspect of the campaign."""

    type: str = Field(
        ...,
        max_length=316,
        pattern=(
            r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
            r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$"
        ),
        description="Condition type, e.g. Ready.",
    )
    status: ConditionStatus = Field(..., description="True, False or Unknown.")
    reason: str = Field(
        ...,
        min_length=1,
        max_length=1024,
        pattern=r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$",
        description="CamelCase machine-readable cause of the last transition.",
    )
    message: str | None = Field(
        None, max_length=32768, description="Human-readable detail; never contains key material."
    )
    last_transition_time: AwareDatetime = Field(..., description="When the status last changed.")
    observed_generation: int | None = Field(
        None,
        description="The metadata.generation the condition was computed for.",
        json_schema_extra={"format": "int64"},
    )


class EtlStatus(ApiModel):
    """The campaign's ETL CronJob as last observed."""

    cron_job_name: str | None = Field(
        None, description="Name of the ETL CronJob owned by this campaign."
    )
    schedule: str | None = Field(
        None, description="Effective cron schedule (after the per-campaign spread)."
    )
    suspended: bool | None = Field(
        None, description="Whether the CronJob is suspended (outside the window or by spec)."
    )
    last_schedule_time: AwareDatetime | None = Field(
        None, description="When the CronJob last started a job."
    )
    last_successful_time: AwareDatetime | None = Field(
        None, description="When an ETL job last completed successfully."
    )


class CertificateStatus(ApiModel):
    """The campaign's current client certificate (public facts only)."""

    secret_name: str | None = Field(
        None, description="kubernetes.io/tls Secret holding the certificate, key and trust bundle."
    )
    serial_number: str | None = Field(
        None, description="Serial number of the certificate, hexadecimal."
    )
    not_after: AwareDatetime | None = Field(None, description="Expiry of the certificate.")
    renewal_time: AwareDatetime | None = Field(
        None, description="When the operator will issue the next certificate."
    )
    issuer: str | None = Field(None, description="Subject of the CA that signed the certificate.")


class CapacityStatus(ApiModel):
    """This campaign's contribution to the shared capacity."""

    requests_per_second: float | None = Field(
        None, description="Demand counted for this campaign now (0 outside its window)."
    )


class CampaignStatus(ApiModel):
    """What the operator observed and did; written only by the operator."""

    observed_generation: int | None = Field(
        None,
        description="The metadata.generation this status describes.",
        json_schema_extra={"format": "int64"},
    )
    phase: Phase | None = Field(
        None,
        description=(
            "Life-cycle phase: Provisioning (children being created), Scheduled (ready, window "
            "not started), Active, Suspended (ETL paused by spec), Completed (window ended), "
            "Stalled (cannot progress without a fix, see conditions)."
        ),
    )
    conditions: list[Condition] | None = Field(
        None,
        description=(
            "Standard conditions: Ready, Reconciling, Stalled, and one per concern "
            "(EtlScheduled, CertificateReady, CapacityScaled)."
        ),
        json_schema_extra={
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["type"],
        },
    )
    etl: EtlStatus | None = Field(None, description=EtlStatus.__doc__)
    certificate: CertificateStatus | None = Field(None, description=CertificateStatus.__doc__)
    capacity: CapacityStatus | None = Field(None, description=CapacityStatus.__doc__)


CAMPAIGN_DESCRIPTION = (
    "A marketing campaign on the PromptSales platform. The operator gives it an ETL CronJob "
    "that loads its PromptAds and PromptCRM data into the warehouse, an X.509 client "
    "certificate its AI agents present to the MCP server, and a share of the shared "
    "MCP-server and Redis-cache capacity while the campaign is active."
)
ROOT_RULES = (
    CelRule(
        f"self.metadata.name.size() <= {NAME_MAX_LENGTH}",
        f"metadata.name must be at most {NAME_MAX_LENGTH} characters (it is the CN of the "
        "campaign's client certificate)",
        lambda name: len(name) <= NAME_MAX_LENGTH,
    ),
)


@dataclasses.dataclass(frozen=True)
class PrinterColumn:
    """A ``kubectl get psc`` column.

    ``date`` columns print as an age ("3d"): only for times in the past. A future time
    (a certificate's expiry) prints as ``<invalid>`` there, so it is a ``string`` column.
    """

    name: str
    type: Literal["string", "date", "integer", "number", "boolean"]
    json_path: str
    description: str | None = None
    priority: int = 0

    def manifest(self) -> dict[str, Any]:
        result: dict[str, Any] = {"name": self.name, "type": self.type}
        if self.description is not None:
            result["description"] = self.description
        result["jsonPath"] = self.json_path
        if self.priority:
            result["priority"] = self.priority
        return result


PRINTER_COLUMNS = (
    PrinterColumn(
        "Campaign", "string", ".spec.campaignId", "The PromptAds campaign id this resource serves."
    ),
    PrinterColumn("Phase", "string", ".status.phase", "Where the campaign is in its life cycle."),
    PrinterColumn(
        "Ready",
        "string",
        '.status.conditions[?(@.type=="Ready")].status',
        "Whether every child (ETL CronJob, certificate, capacity) is in place.",
    ),
    PrinterColumn(
        "Schedule",
        "string",
        ".status.etl.schedule",
        "The effective cron schedule of the ETL CronJob (after spreading).",
    ),
    PrinterColumn(
        "Last ETL",
        "date",
        ".status.etl.lastSuccessfulTime",
        "How long ago the ETL job last finished successfully.",
    ),
    PrinterColumn(
        "Cert Expiry",
        "string",
        ".status.certificate.notAfter",
        "When the campaign's client certificate expires (it renews before that).",
    ),
    PrinterColumn("Age", "date", ".metadata.creationTimestamp"),
)
