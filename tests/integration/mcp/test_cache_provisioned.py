"""The cache set as Kubernetes runs it, on loopback processes: the shipped start-up
scripts and configuration, TLS from a CA made by ``certs``, one password (see
``harness.cache_set``). The MCP server's cache works through it exactly as configured in
the cluster (a ``rediss://`` URL for credentials and TLS, the Sentinels for where the
primary is), nothing answers without TLS and the password, and pods that restart (the
kubelet's job) rejoin the set as the Sentinels know it, not as they knew it at start.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator

import pytest
import redis

from harness.cache_set import ProvisionedCacheSet
from harness.redis_sentinel import Node, SentinelSetError
from tests.integration.mcp.test_cache import Computation
from tests.integration.mcp.test_cache_sentinel import (  # noqa: F401 (fixture)
    Replicas,
    answer_of,
    key_of,
    replicas,
)


@pytest.fixture(scope="module")
def cache_set() -> Iterator[ProvisionedCacheSet]:
    with ProvisionedCacheSet(replicas=2) as started:
        yield started


def _role(node: Node) -> dict[str, object]:
    with node.client() as client:
        info: dict[str, object] = client.info("replication")
    return info


def _wait_in_sync(cache_set: ProvisionedCacheSet, replica: Node, primary: Node) -> None:
    """A full resync over TLS on a loaded CI machine can take a while; when it does not
    come at all, the failure carries what both ends said (the set's logs go with it)."""
    try:
        cache_set._wait(lambda: cache_set._link_up(replica), "the old primary in sync", 90)
    except SentinelSetError as error:
        name = f"node-{cache_set.data.index(replica)}"
        raise AssertionError(
            f"{error}\nreplica: {_role(replica)}\nprimary: {_role(primary)}\n"
            f"{name} log (tail):\n{cache_set.log(name)[-4000:]}"
        ) from error


def test_a_new_set_starts_ordinal_0_as_primary_and_the_rest_as_its_replicas(
    cache_set: ProvisionedCacheSet,
) -> None:
    assert cache_set.primary() is cache_set.data[0]
    assert _role(cache_set.data[0])["connected_slaves"] == 2
    for ordinal in (1, 2):
        info = _role(cache_set.data[ordinal])
        assert (info["role"], info["master_port"]) == ("slave", cache_set.data_ports[0])
        assert "no Sentinel knows a primary" in cache_set.log(f"node-{ordinal}")
    # The Sentinels speak of the set by the names the pods announce, not addresses.
    with cache_set.sentinel_nodes[0].client() as sentinel:
        replicas = sentinel.sentinel_slaves(cache_set.master_name)
    assert {(r["ip"], r["port"]) for r in replicas} == {
        ("localhost", port) for port in cache_set.data_ports[1:]
    }


async def test_the_mcp_cache_works_through_the_sentinels_with_tls_and_the_password(
    cache_set: ProvisionedCacheSet,
    replicas: Replicas,  # noqa: F811 (fixture injection)
) -> None:
    caches = [replicas(cache_set.url, sentinels=cache_set.sentinels) for _ in range(2)]
    key = key_of(replicas.prefix, 1)
    compute = Computation(answer_of(key))
    assert await caches[0].get_or_compute(key, "t", compute) == (answer_of(key), False)
    await caches[0].flush()
    with cache_set.primary().client() as primary:
        assert primary.wait(2, 2000) == 2
    assert await caches[1].get_or_compute(key, "t", compute) == (answer_of(key), True)
    assert compute.calls == 1
    assert [cache.status() for cache in caches] == ["ok", "ok"]


@pytest.mark.parametrize("who", ["data pod", "Sentinel"])
def test_nothing_answers_without_tls_or_without_the_password(
    cache_set: ProvisionedCacheSet, who: str
) -> None:
    port = cache_set.data_ports[1] if who == "data pod" else cache_set.sentinel_ports[1]
    plain = redis.Redis(host="127.0.0.1", port=port, socket_timeout=2)
    with pytest.raises(redis.ConnectionError):
        plain.ping()
    options = cache_set.client_options()
    options.pop("password")
    with (
        redis.Redis(host="127.0.0.1", port=port, socket_timeout=2, **options) as anonymous,
        pytest.raises(redis.AuthenticationError),
    ):
        anonymous.ping()
    options["password"] = "not-the-password"
    with (
        redis.Redis(host="127.0.0.1", port=port, socket_timeout=2, **options) as wrong,
        pytest.raises(redis.AuthenticationError),
    ):
        wrong.ping()
    # A server certificate from another CA is refused by the client.
    options["ssl_ca_certs"] = None
    options["ssl_cert_reqs"] = ssl.CERT_REQUIRED
    with (
        redis.Redis(host="127.0.0.1", port=port, socket_timeout=2, **options) as untrusted,
        pytest.raises(redis.ConnectionError, match="certificate verify failed"),
    ):
        untrusted.ping()


def test_a_restarted_former_primary_rejoins_as_a_replica_of_the_promoted_one() -> None:
    """After a failover the Sentinels know the new primary: the old one, restarted by its
    StatefulSet, must not come back as a second primary (ordinal 0 or not), and a
    Sentinel that restarts with a fresh configuration monitors the new primary too."""
    with ProvisionedCacheSet(replicas=1) as cache_set:
        old = cache_set.kill_primary()
        promoted = cache_set.wait_for_failover(old)
        assert old is cache_set.data[0]

        rejoined = cache_set.restart_node(0)
        info = _role(rejoined)
        assert (info["role"], info["master_port"]) == ("slave", promoted.port)
        said = f"replica of localhost:{promoted.port}, the primary the Sentinels report"
        assert said in cache_set.log("node-0")
        _wait_in_sync(cache_set, rejoined, promoted)
        assert cache_set.primary() is promoted

        sentinel = cache_set.restart_sentinel(0)
        with sentinel.client() as client:
            reported = client.sentinel_get_master_addr_by_name(cache_set.master_name)
        assert (reported[0], int(reported[1])) == (b"localhost", promoted.port)
        assert "the primary the other Sentinels report" in cache_set.log("sentinel-0")
