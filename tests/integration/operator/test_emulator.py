"""The Kubernetes API emulator keeps the promises kopf and the operator rely on."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import pytest

from tests.support import crd
from tests.support.kube import Fault, KubeApi

MERGE = {"Content-Type": "application/merge-patch+json"}
JSON_PATCH = {"Content-Type": "application/json-patch+json"}
NS_URL = "/api/v1/namespaces/ns"
SECRETS = f"{NS_URL}/secrets"
CAMPAIGNS = "/apis/promptsales.io/v1alpha1/namespaces/ns/promptsalescampaigns"


@pytest.fixture
def api(kube_api: KubeApi) -> KubeApi:
    kube_api.emulator.register_crd(crd.load_crd(), crd.admit)
    return kube_api


async def call(
    api: KubeApi, method: str, path: str, body: Any = None, **kwargs: Any
) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession() as http,
        http.request(
            method, api.url + path, data=None if body is None else json.dumps(body), **kwargs
        ) as response,
    ):
        return response.status, await response.json(content_type=None)


def secret(name: str, **labels: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "labels": labels}, "stringData": {"k": "v"}}


async def test_create_fills_server_metadata_and_converts_string_data(api: KubeApi) -> None:
    status, obj = await call(api, "POST", SECRETS, secret("a"))
    assert status == 201
    meta = obj["metadata"]
    assert meta["namespace"] == "ns"
    assert meta["uid"]
    assert meta["resourceVersion"]
    assert meta["creationTimestamp"]
    assert (obj["apiVersion"], obj["kind"]) == ("v1", "Secret")
    assert obj["data"] == {"k": "dg=="}
    assert "stringData" not in obj
    assert (await call(api, "POST", SECRETS, secret("a")))[0] == 409


async def test_generate_name(api: KubeApi) -> None:
    status, obj = await call(api, "POST", SECRETS, {"metadata": {"generateName": "ev."}})
    assert status == 201
    assert obj["metadata"]["name"].startswith("ev.")
    assert len(obj["metadata"]["name"]) > len("ev.")


async def test_resource_version_moves_on_change_only_and_guards_writes(api: KubeApi) -> None:
    _, created = await call(api, "POST", SECRETS, secret("rv"))
    rv0 = created["metadata"]["resourceVersion"]
    _, same = await call(api, "PATCH", f"{SECRETS}/rv", {"data": {"k": "dg=="}}, headers=MERGE)
    assert same["metadata"]["resourceVersion"] == rv0
    _, changed = await call(api, "PATCH", f"{SECRETS}/rv", {"data": {"k": "eA=="}}, headers=MERGE)
    assert int(changed["metadata"]["resourceVersion"]) > int(rv0)
    stale = {"metadata": {"resourceVersion": rv0}, "data": {"k": "eQ=="}}
    assert (await call(api, "PATCH", f"{SECRETS}/rv", stale, headers=MERGE))[0] == 409


async def test_failed_json_patch_test_is_422(api: KubeApi) -> None:
    await call(api, "POST", SECRETS, secret("jp"))
    ops = [{"op": "test", "path": "/metadata/resourceVersion", "value": "0"}]
    assert (await call(api, "PATCH", f"{SECRETS}/jp", ops, headers=JSON_PATCH))[0] == 422


async def test_status_subresource_is_isolated_and_generation_tracks_spec(api: KubeApi) -> None:
    body = {"metadata": {"name": "c"}, "spec": {"campaignId": "1", "displayName": "x"}}
    _, obj = await call(api, "POST", CAMPAIGNS, body)
    assert obj["metadata"]["generation"] == 1
    both = {"spec": {"displayName": "hacked"}, "status": {"phase": "Active"}}
    _, via_status = await call(api, "PATCH", f"{CAMPAIGNS}/c/status", both, headers=MERGE)
    assert via_status["spec"]["displayName"] == "x"
    assert via_status["status"] == {"phase": "Active"}
    assert via_status["metadata"]["generation"] == 1
    _, via_main = await call(api, "PATCH", f"{CAMPAIGNS}/c", both, headers=MERGE)
    assert via_main["spec"]["displayName"] == "hacked"
    assert via_main["status"] == {"phase": "Active"}
    assert via_main["metadata"]["generation"] == 2


async def test_crd_admission_defaults_and_rejects(api: KubeApi) -> None:
    body = {"metadata": {"name": "d"}, "spec": {"campaignId": "1", "displayName": "x"}}
    _, obj = await call(api, "POST", CAMPAIGNS, body)
    assert obj["spec"]["etl"]["schedule"] == "*/11 * * * *"
    bad = {"spec": {"campaignId": "2"}}
    status, error = await call(api, "PATCH", f"{CAMPAIGNS}/d", bad, headers=MERGE)
    assert status == 422
    assert "immutable" in error["message"]


async def test_label_and_field_selectors(api: KubeApi) -> None:
    await call(api, "POST", SECRETS, secret("s1", app="a", tier="x"))
    await call(api, "POST", SECRETS, secret("s2", app="b"))

    async def names(**params: str) -> list[str]:
        _, listing = await call(api, "GET", SECRETS, params=params)
        return [item["metadata"]["name"] for item in listing["items"]]

    assert await names(labelSelector="app=a") == ["s1"]
    assert await names(labelSelector="app!=a") == ["s2"]
    assert await names(labelSelector="tier") == ["s1"]
    assert await names(labelSelector="!tier") == ["s2"]
    assert await names(fieldSelector="metadata.name=s2") == ["s2"]


async def test_watch_resumes_after_a_resource_version(api: KubeApi) -> None:
    await call(api, "POST", SECRETS, secret("w1"))
    _, listing = await call(api, "GET", SECRETS)
    since = listing["metadata"]["resourceVersion"]
    await call(api, "POST", SECRETS, secret("w2"))
    params = {"watch": "true", "resourceVersion": since, "timeoutSeconds": "1"}
    async with aiohttp.ClientSession() as http, http.get(api.url + SECRETS, params=params) as r:
        lines = [json.loads(line) for line in (await r.text()).splitlines() if line]
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in lines] == [("ADDED", "w2")]


async def test_watch_streams_live_events(api: KubeApi) -> None:
    params = {"watch": "true", "timeoutSeconds": "2"}
    live = {"metadata": {"name": "live", "namespace": "ns"}}
    async with aiohttp.ClientSession() as http, http.get(api.url + SECRETS, params=params) as r:
        api.emulator.create_object("v1/secrets", live)
        line = await asyncio.wait_for(r.content.readline(), 5)
    event = json.loads(line)
    assert (event["type"], event["object"]["metadata"]["name"]) == ("ADDED", "live")


async def test_finalizers_defer_deletion_and_owner_references_cascade(api: KubeApi) -> None:
    _, owner = await call(
        api, "POST", SECRETS, {"metadata": {"name": "owner", "finalizers": ["x/y"]}}
    )
    ref = {"apiVersion": "v1", "kind": "Secret", "name": "owner", "uid": owner["metadata"]["uid"]}
    await call(api, "POST", SECRETS, {"metadata": {"name": "child", "ownerReferences": [ref]}})
    await call(api, "DELETE", f"{SECRETS}/owner")
    status, pending = await call(api, "GET", f"{SECRETS}/owner")
    assert status == 200
    assert pending["metadata"]["deletionTimestamp"]
    await call(api, "PATCH", f"{SECRETS}/owner", {"metadata": {"finalizers": None}}, headers=MERGE)
    assert (await call(api, "GET", f"{SECRETS}/owner"))[0] == 404
    assert (await call(api, "GET", f"{SECRETS}/child"))[0] == 404


async def test_dry_run_and_injected_faults(api: KubeApi) -> None:
    status, _ = await call(api, "POST", SECRETS, secret("dry"), params={"dryRun": "All"})
    assert status == 201
    assert (await call(api, "GET", f"{SECRETS}/dry"))[0] == 404
    api.emulator.inject_fault(Fault("create", "secrets", status=503))
    assert (await call(api, "POST", SECRETS, secret("f")))[0] == 503
    assert (await call(api, "POST", SECRETS, secret("f")))[0] == 201
    assert api.emulator.counts["create", "secrets"] == 3
    assert api.emulator.write_requests == 3


async def test_discovery_of_core_and_custom_groups(api: KubeApi) -> None:
    _, core = await call(api, "GET", "/api/v1")
    assert core["groupVersion"] == "v1"
    _, group = await call(api, "GET", "/apis/promptsales.io/v1alpha1")
    (resource,) = [r for r in group["resources"] if r["name"] == "promptsalescampaigns"]
    assert resource["namespaced"] is True
    assert "psc" in resource["shortNames"]
    _, namespaces = await call(api, "GET", "/api/v1/namespaces")
    assert namespaces["kind"] == "NamespaceList"
