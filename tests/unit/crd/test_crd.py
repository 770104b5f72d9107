"""The CRD teaches ``kubectl explain`` and rejects what the operator could not act on."""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from tests.support import crd

EXAMPLES = crd.REPO_ROOT / "examples"
VALID = sorted(EXAMPLES.glob("*.yaml"))
INVALID = sorted((EXAMPLES / "invalid").glob("*.yaml"))


def _load(path: Path) -> dict[str, Any]:
    with path.open() as fh:
        obj: dict[str, Any] = yaml.safe_load(fh)
    return obj


def _walk(schema: dict[str, Any], path: str) -> Iterator[tuple[str, dict[str, Any]]]:
    yield path, schema
    for name, prop in schema.get("properties", {}).items():
        yield from _walk(prop, f"{path}.{name}")
    if "items" in schema:
        yield from _walk(schema["items"], f"{path}[]")


def test_crd_is_a_valid_apiextensions_object() -> None:
    kubernetes_validate.validate(crd.load_crd(), "1.30", strict=True)


def test_names_short_name_and_status_subresource() -> None:
    spec = crd.load_crd()["spec"]
    assert spec["names"]["shortNames"] == ["psc"]
    assert spec["names"]["plural"] == "promptsalescampaigns"
    (version,) = spec["versions"]
    assert version["subresources"] == {"status": {}}
    columns = {c["name"] for c in version["additionalPrinterColumns"]}
    assert {"Campaign", "Phase", "Ready", "Schedule", "Last ETL", "Cert Expiry", "Age"} <= columns


def test_every_field_has_a_description() -> None:
    schema = crd.version_schema(crd.load_crd())
    missing = [path for path, node in _walk(schema, "") if not node.get("description")]
    # The API server refuses anything but the bare type on the root's metadata.
    assert missing == [".metadata"]


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.name)
def test_valid_examples_are_admitted(path: Path) -> None:
    admitted = crd.admit(_load(path))
    assert admitted["spec"]["etl"]["schedule"]
    assert admitted["spec"]["certificate"]["role"] in {"marketing", "sales", "user"}


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.name)
def test_invalid_examples_are_rejected_for_the_stated_reason(path: Path) -> None:
    header = path.read_text().splitlines()[0]
    match = re.match(r"# expect: (schema|cel): (.+)$", header)
    assert match, f"{path.name} must start with '# expect: <schema|cel>: <message>'"
    with pytest.raises(crd.AdmissionError) as info:
        crd.admit(_load(path))
    kinds = {v.kind for v in info.value.violations}
    assert match.group(1) in kinds
    assert match.group(2) in str(info.value)


def test_defaults_fill_the_minimal_campaign() -> None:
    admitted = crd.admit(_load(EXAMPLES / "campaign-minimal.yaml"))
    assert admitted["spec"]["etl"] == {
        "schedule": "*/11 * * * *",
        "suspend": False,
        "sources": ["ads", "crm"],
        "activeDeadlineSeconds": 600,
    }
    assert admitted["spec"]["certificate"] == {
        "role": "marketing",
        "validity": "2160h",
        "renewBefore": "720h",
        "keyAlgorithm": "ECDSA-P256",
    }
    assert admitted["spec"]["demand"] == {"requestsPerSecond": 1}


def test_campaign_id_is_immutable_but_other_fields_may_change() -> None:
    old = crd.admit(_load(EXAMPLES / "campaign-full.yaml"))
    changed_name = copy.deepcopy(old)
    changed_name["spec"]["displayName"] = "Renamed"
    crd.admit(changed_name, old=old)

    changed_id = copy.deepcopy(old)
    changed_id["spec"]["campaignId"] = "99"
    with pytest.raises(crd.AdmissionError, match="campaignId is immutable"):
        crd.admit(changed_id, old=old)


def test_transition_rule_does_not_run_on_create() -> None:
    obj = _load(EXAMPLES / "campaign-minimal.yaml")
    assert crd.admit(obj, old=None)["spec"]["campaignId"] == "1003"


@pytest.mark.parametrize(
    ("start", "end", "ok"),
    [
        ("2026-01-01T00:00:00Z", "2026-01-01T00:00:01Z", True),
        ("2026-01-01T00:00:00Z", "2026-01-01T00:00:00Z", False),
    ],
)
def test_window_boundaries(start: str, end: str, ok: bool) -> None:
    obj = _load(EXAMPLES / "campaign-minimal.yaml")
    obj["spec"]["window"] = {"start": start, "end": end}
    if ok:
        crd.admit(obj)
    else:
        with pytest.raises(crd.AdmissionError, match=r"window\.end must be after"):
            crd.admit(obj)


# --- the CRD is generated from the typed API, and a real API server accepts it -------------


def test_crds_directory_is_what_the_typed_api_generates() -> None:
    """``crds/`` is generated output: a model change without regenerating fails here."""
    from workloads import crd as generator

    assert generator.main(["--check"]) == 0
    assert crd.load_crd() == generator.campaign_crd()


def test_the_api_servers_own_rules_for_a_crd_hold() -> None:
    assert crd.definition_violations(crd.load_crd()) == []


def _broken(mutate: Any) -> list[str]:
    definition = copy.deepcopy(crd.load_crd())
    mutate(crd.version_schema(definition))
    return crd.definition_violations(definition)


def test_a_description_on_metadata_is_refused_as_kube_apiserver_refused_it() -> None:
    def describe_metadata(schema: dict[str, Any]) -> None:
        schema["properties"]["metadata"]["description"] = "Standard object metadata"

    assert any("metadata is implicitly specified" in p for p in _broken(describe_metadata))


def test_an_object_default_that_fails_its_own_cel_rule_is_refused() -> None:
    """``default: {}`` on ``certificate`` (the nested defaults are not applied first) fails
    ``duration(self.renewBefore) < duration(self.validity)``, as the real server said."""

    def empty_default(schema: dict[str, Any]) -> None:
        schema["properties"]["spec"]["properties"]["certificate"]["default"] = {}

    problems = _broken(empty_default)
    assert any(
        "properties[certificate].default" in p and "renewBefore must be shorter" in p
        for p in problems
    ), problems


def test_date_columns_show_only_times_in_the_past() -> None:
    """kubectl prints a ``date`` column as an age; a future time prints ``<invalid>``."""
    (version,) = crd.load_crd()["spec"]["versions"]
    past = {".metadata.creationTimestamp", ".status.etl.lastSuccessfulTime"}
    dates = {c["jsonPath"] for c in version["additionalPrinterColumns"] if c["type"] == "date"}
    assert dates <= past
    expiry = next(c for c in version["additionalPrinterColumns"] if c["name"] == "Cert Expiry")
    assert expiry["type"] == "string"
