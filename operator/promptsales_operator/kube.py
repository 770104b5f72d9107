"""A small asyncio Kubernetes client: the few verbs the operator calls, over aiohttp.

kopf watches and patches campaigns itself but offers no public client for other objects;
the synchronous ``kubernetes`` client would need a thread per call under a thousand
campaigns. So credentials are loaded once with the ``kubernetes`` package (kubeconfig or
in-cluster, the same logic kubectl users know) and requests go through one pooled aiohttp
session that kopf's event loop already runs.
"""

from __future__ import annotations

import dataclasses
import ssl
from collections.abc import Callable, Mapping
from typing import Any

import aiohttp
import kopf
import orjson
from kubernetes import client as k8s_client
from kubernetes import config as k8s_config

Obj = dict[str, Any]
MERGE_PATCH = "application/merge-patch+json"
# Every write names the operator as its field manager (managedFields), so a server-side
# apply by kubectl, Pulumi or a GitOps tool sees who owns a field instead of "Python".
FIELD_MANAGER = "promptsales-operator"


class ApiError(Exception):
    """A non-2xx answer; ``reason`` is the API's own (never the request body)."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(f"{status} {reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message


@dataclasses.dataclass(frozen=True)
class Connection:
    """Where the API server is and how to prove who we are."""

    server: str
    token: str | None = None
    ca_path: str | None = None
    cert_path: str | None = None
    key_path: str | None = None
    verify: bool = True

    def ssl_context(self) -> ssl.SSLContext | bool:
        if not self.server.startswith("https"):
            return False
        context = ssl.create_default_context(cafile=self.ca_path)
        if not self.verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        if self.cert_path and self.key_path:
            context.load_cert_chain(self.cert_path, self.key_path)
        return context

    def kopf_info(self, namespace: str) -> kopf.ConnectionInfo:
        return kopf.ConnectionInfo(
            server=self.server,
            ca_path=self.ca_path,
            insecure=not self.verify,
            token=self.token,
            certificate_path=self.cert_path,
            private_key_path=self.key_path,
            default_namespace=namespace,
        )


def load_connection(kubeconfig: str | None) -> Connection:
    """From a kubeconfig file when given, else the in-cluster ServiceAccount."""
    configuration = k8s_client.Configuration()
    if kubeconfig:
        k8s_config.load_kube_config(config_file=kubeconfig, client_configuration=configuration)  # type: ignore[no-untyped-call]
    else:
        k8s_config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
    auth = configuration.api_key.get("authorization") or configuration.api_key.get("BearerToken")
    token = auth.split(" ", 1)[-1] if auth else None
    return Connection(
        server=configuration.host.rstrip("/"),
        token=token,
        ca_path=configuration.ssl_ca_cert,
        cert_path=configuration.cert_file,
        key_path=configuration.key_file,
        verify=bool(configuration.verify_ssl),
    )


def path(
    api_version: str,
    plural: str,
    namespace: str | None,
    name: str | None = None,
    subresource: str | None = None,
) -> str:
    """The REST path of a collection, an object or its subresource."""
    prefix = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
    parts = [prefix]
    if namespace:
        parts.append(f"namespaces/{namespace}")
    parts.append(plural)
    if name:
        parts.append(name)
    if subresource:
        parts.append(subresource)
    return "/".join(parts)


class KubeClient:
    """get / list / create / patch; every error becomes :class:`ApiError`."""

    def __init__(
        self,
        connection: Connection,
        *,
        limit: int = 64,
        on_request: Callable[[str], None] | None = None,
        read_timeout: float = 30.0,
    ) -> None:
        self._connection = connection
        self._session: aiohttp.ClientSession | None = None
        self._limit = limit
        self._on_request = on_request  # counts requests by verb (metrics, benchmark)
        self._read_timeout = read_timeout

    async def __aenter__(self) -> KubeClient:
        headers = {"Accept": "application/json"}
        if self._connection.token:
            headers["Authorization"] = f"Bearer {self._connection.token}"
        self._session = aiohttp.ClientSession(
            base_url=self._connection.server,
            headers=headers,
            connector=aiohttp.TCPConnector(ssl=self._connection.ssl_context(), limit=self._limit),
            # No total: waiting for a free pooled connection during a burst is not a failure;
            # connecting and each read are bounded instead.
            timeout=aiohttp.ClientTimeout(
                total=None, sock_connect=10, sock_read=self._read_timeout
            ),
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _request(
        self,
        method: str,
        url: str,
        *,
        verb: str,
        body: Any = None,
        content_type: str = "application/json",
        params: Mapping[str, str] | None = None,
    ) -> Obj:
        if self._session is None:
            raise RuntimeError("KubeClient used outside 'async with'")
        if self._on_request is not None:
            self._on_request(verb)
        if method in {"POST", "PATCH", "PUT"}:
            params = {**(params or {}), "fieldManager": FIELD_MANAGER}
        data = None if body is None else orjson.dumps(body)
        headers = {"Content-Type": content_type} if body is not None else {}
        try:
            async with self._session.request(
                method, url, data=data, headers=headers, params=params
            ) as response:
                raw = await response.read()
                try:
                    payload = orjson.loads(raw) if raw else {}
                except orjson.JSONDecodeError:
                    payload = {}
                if response.status >= 400:
                    payload = payload if isinstance(payload, dict) else {}
                    raise ApiError(
                        response.status,
                        str(payload.get("reason", response.reason)),
                        str(payload.get("message", "")),
                    )
                result: Obj = payload
                return result
        except TimeoutError:  # aiohttp's socket timeouts are TimeoutErrors too
            raise ApiError(504, "Timeout", f"{method} took longer than the read timeout") from None
        except aiohttp.ClientError as exc:
            raise ApiError(503, "Unreachable", type(exc).__name__) from None

    async def get(self, url: str) -> Obj:
        return await self._request("GET", url, verb="get")

    async def get_or_none(self, url: str) -> Obj | None:
        try:
            return await self.get(url)
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise

    async def list(self, url: str, label_selector: str | None = None) -> list[Obj]:
        params = {"labelSelector": label_selector} if label_selector else None
        answer = await self._request("GET", url, verb="list", params=params)
        items: list[Obj] = answer.get("items", [])
        return items

    async def list_page(self, url: str, params: Mapping[str, str]) -> Obj:
        """One page of a list, with its ``metadata.continue`` (``limit``/``continue`` in
        ``params``): a caller walking ten thousand objects asks for them in pages."""
        return await self._request("GET", url, verb="list", params=params)

    async def delete(self, url: str) -> Obj:
        return await self._request("DELETE", url, verb="delete")

    async def create(self, url: str, body: Obj) -> Obj:
        return await self._request("POST", url, verb="create", body=body)

    async def patch(self, url: str, body: Obj, content_type: str = MERGE_PATCH) -> Obj:
        return await self._request("PATCH", url, verb="patch", body=body, content_type=content_type)
