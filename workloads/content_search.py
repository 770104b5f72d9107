"""MongoDB Search for PromptContent: the ``vectorSearch`` index and the ``MongoDBSearch`` resource.

Why: every MCP replica holding every embedding in process stops scaling around a few
million items (10M x 384 float32 is 15 GB per replica). With MongoDB Search, ``mongot``
(run by the same operator as the replica set, ``MongoDBSearch``) indexes the embeddings
and ``getContent`` runs ``$vectorSearch`` in the database.

One definition of the index serves the render (a ConfigMap a platform engineer can
read or apply) and the loader that creates it (``promptsales mcp load-content`` with
``PROMPTSALES_MCP_VECTOR_BACKEND=mongo``). Its shape is MongoDB's documented
``vectorSearch`` index type: one ``vector`` field (path, numDimensions, similarity) and
a ``filter`` field for every path the server's pre-filter names, because ``$vectorSearch``
may filter only on fields indexed as ``filter``.
"""

from __future__ import annotations

import json
from typing import Any

from workloads import content_replica_set
from workloads.common import Manifest, labels

INDEX_NAME = "content_vector"
VECTOR_PATH = "embedding"
# The in-process index's filters (campaign, tags, media type, language) and the model id
# that keeps two models' vectors apart.
FILTER_PATHS = ("embedding_model", "campaigns", "tags", "media_type", "language")
DEFAULT_DIMENSIONS = 384  # all-MiniLM-L6-v2
SIMILARITY = "cosine"  # stored vectors are unit-normalized: cosine is their dot product

SEARCH_API_VERSION = "mongodb.com/v1"
SEARCH_NAME = f"{content_replica_set.NAME}-search"
SEARCH_TLS_SECRET = f"{SEARCH_NAME}-tls"
INDEX_CONFIG_MAP = "promptsales-content-vector-index"
COMPONENT = "mongodb-search"  # the mongot pods' component label (NetworkPolicies select it)
MONGOT_PORT = 27028  # where mongod reaches mongot (the operator's default)


def vector_index_definition(dimensions: int = DEFAULT_DIMENSIONS) -> dict[str, Any]:
    """The ``definition`` of the ``vectorSearch`` index over PromptContent."""
    return {
        "fields": [
            {
                "type": "vector",
                "path": VECTOR_PATH,
                "numDimensions": dimensions,
                "similarity": SIMILARITY,
            },
            *({"type": "filter", "path": path} for path in FILTER_PATHS),
        ]
    }


def vector_index_model(
    dimensions: int = DEFAULT_DIMENSIONS, name: str = INDEX_NAME
) -> dict[str, Any]:
    """What ``createSearchIndexes`` takes: name, type and definition."""
    return {"name": name, "type": "vectorSearch", "definition": vector_index_definition(dimensions)}


def index_config_map(namespace: str, dimensions: int = DEFAULT_DIMENSIONS) -> Manifest:
    """The index definition as JSON, for reading, review in GitOps and ``mongosh``."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": INDEX_CONFIG_MAP,
            "namespace": namespace,
            "labels": labels(content_replica_set.COMPONENT, "pulumi"),
        },
        "data": {f"{INDEX_NAME}.json": json.dumps(vector_index_model(dimensions), indent=2) + "\n"},
    }


def search_resource(
    namespace: str,
    replicas: int = 1,
    cpu: tuple[str, str] = ("500m", "2"),
    memory: tuple[str, str] = ("2Gi", "2Gi"),
    storage: str = "10Gi",
) -> Manifest:
    """``MongoDBSearch``: ``mongot`` syncing from the ``MongoDBCommunity`` replica set,
    serving TLS with the platform CA's certificate (``promptsales-content-search-tls``)."""
    return {
        "apiVersion": SEARCH_API_VERSION,
        "kind": "MongoDBSearch",
        "metadata": {
            "name": SEARCH_NAME,
            "namespace": namespace,
            "labels": labels(COMPONENT, "pulumi"),
        },
        "spec": {
            "source": {"mongodbResourceRef": {"name": content_replica_set.NAME}},
            "security": {"tls": {"certificateKeySecretRef": {"name": SEARCH_TLS_SECRET}}},
            "clusters": [
                {
                    "replicas": replicas,
                    "resourceRequirements": {
                        "requests": {"cpu": cpu[0], "memory": memory[0]},
                        "limits": {"cpu": cpu[1], "memory": memory[1]},
                    },
                    "persistence": {"single": {"storage": storage}},
                    "statefulSet": _statefulset_override(),
                }
            ],
        },
    }


def _statefulset_override() -> Manifest:
    """Our labels on the mongot pods (the NetworkPolicies select them) and the settings the
    data namespace's ``restricted`` Pod Security Standard requires, stated explicitly (the
    operator merges containers by name; check its own on a first install)."""
    return {
        "metadata": {"labels": labels(COMPONENT, "pulumi")},
        "spec": {
            "template": {
                "metadata": {"labels": labels(COMPONENT, "pulumi")},
                "spec": {
                    "securityContext": {
                        "runAsNonRoot": True,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "containers": [
                        {
                            "name": "mongot",
                            "securityContext": {
                                "allowPrivilegeEscalation": False,
                                "capabilities": {"drop": ["ALL"]},
                                "runAsNonRoot": True,
                            },
                        }
                    ],
                },
            }
        },
    }
