"""Admission of rendered custom resources against the real CRDs of the engines we build on.

The CRDs of CloudNativePG, MongoDB Controllers for Kubernetes and the Prometheus Operator
are test data in ``tests/data/third_party_crds/`` (the workspace's ``shared/crds/``, copied
unchanged from those projects' release tags, Apache-2.0; see its README), so a clone
tests without the workspace around it. Their structural schemas are applied the way kube-apiserver
applies them to a ``kubectl apply`` with strict field validation (kubectl's default):

- defaults are filled in first (``tests.support.crd.apply_defaults``),
- an unknown field is an error unless the schema preserves unknown fields,
- ``x-kubernetes-int-or-string`` accepts either, ``nullable`` accepts null,
- every ``x-kubernetes-validations`` CEL rule runs (with ``cel-python``) wherever its
  schema node has a value: under properties, array items and map values alike; transition
  rules (naming ``oldSelf``) do not run on create, as on a real server.

``PROMPTSALES_SHARED_CRDS`` names another folder of the same layout (newer releases, say).
"""

from __future__ import annotations

import copy
import functools
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from celpy.adapter import json_to_cel

from tests.support.crd import REPO_ROOT, Schema, Violation, _program, apply_defaults

ENV_VAR = "PROMPTSALES_SHARED_CRDS"


class CrdsNotFoundError(RuntimeError):
    """The shared CRDs are not where the tests expect them."""


def shared_crds_dir() -> Path:
    """``tests/data/third_party_crds`` in this repository, or ``$PROMPTSALES_SHARED_CRDS``."""
    folder = Path(os.environ.get(ENV_VAR) or REPO_ROOT / "tests" / "data" / "third_party_crds")
    if not folder.is_dir():
        raise CrdsNotFoundError(
            f"no third-party CRDs at {folder}; set {ENV_VAR} to a folder of them "
            "(CloudNativePG, MongoDB, Prometheus Operator), one sub-folder per release"
        )
    return folder


@functools.cache
def load_crds() -> dict[tuple[str, str], dict[str, Any]]:
    """Every CRD in the shared folder by (group, kind)."""
    result: dict[tuple[str, str], dict[str, Any]] = {}
    for path in sorted(shared_crds_dir().glob("*/*.yaml")):
        crd = yaml.safe_load(path.read_text(encoding="utf-8"))
        if crd.get("kind") != "CustomResourceDefinition":
            continue
        result[(crd["spec"]["group"], crd["spec"]["names"]["kind"])] = crd
    return result


def schema_for(api_version: str, kind: str) -> Schema:
    """The served version's openAPIV3Schema for an object's apiVersion and kind."""
    group, _, version = api_version.rpartition("/")
    try:
        crd = load_crds()[(group, kind)]
    except KeyError:
        raise KeyError(f"no shared CRD for {api_version}/{kind}") from None
    for item in crd["spec"]["versions"]:
        if item["name"] == version and item.get("served", True):
            schema: Schema = item["schema"]["openAPIV3Schema"]
            return schema
    raise KeyError(f"{group}/{kind} serves no version {version}")


def to_jsonschema(schema: Schema, root: bool = False) -> Schema:
    """A Kubernetes structural schema as plain JSON Schema with strict field validation."""
    out: Schema = {}
    preserve = bool(schema.get("x-kubernetes-preserve-unknown-fields"))
    embedded = bool(schema.get("x-kubernetes-embedded-resource"))
    for key, val in schema.items():
        if key.startswith("x-kubernetes-"):
            if key == "x-kubernetes-list-type" and val == "set":
                out["uniqueItems"] = True
            continue
        if key in ("description", "nullable"):
            continue
        if key == "properties":
            out[key] = {name: to_jsonschema(sub) for name, sub in val.items()}
        elif (key in ("items", "not") and isinstance(val, dict)) or (
            key == "additionalProperties" and isinstance(val, dict)
        ):
            out[key] = to_jsonschema(val)
        elif key in ("anyOf", "allOf", "oneOf"):
            out[key] = [to_jsonschema(sub) for sub in val]
        else:
            out[key] = val
    if schema.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out["anyOf"] = [*out.get("anyOf", []), {"type": "integer"}, {"type": "string"}]
    if (
        out.get("type") == "object"
        and "properties" in out
        and "additionalProperties" not in out
        and not preserve
        and not embedded
        and not root
    ):
        out["additionalProperties"] = False
    if root:
        # apiVersion, kind and metadata are the API server's, checked elsewhere.
        out.setdefault("properties", {})
        out["additionalProperties"] = False
        out["properties"].update({"apiVersion": {}, "kind": {}, "metadata": {}})
    if schema.get("nullable") and "type" in out:
        out = {"anyOf": [out, {"type": "null"}]}
    return out


def schema_violations(schema: Schema, obj: dict[str, Any]) -> list[Violation]:
    validator = jsonschema.Draft7Validator(to_jsonschema(schema, root=True))
    return [
        Violation("." + ".".join(str(p) for p in err.absolute_path), err.message, "schema")
        for err in sorted(validator.iter_errors(obj), key=lambda e: list(e.absolute_path))
    ]


def walk_rules(schema: Schema, value: Any, path: str) -> Iterator[tuple[str, dict[str, Any], Any]]:
    """Every CEL rule with the value its node holds: properties, items and map values."""
    for rule in schema.get("x-kubernetes-validations", []):
        yield path, rule, value
    if isinstance(value, dict):
        for name, prop in schema.get("properties", {}).items():
            if name in value:
                yield from walk_rules(prop, value[name], f"{path}.{name}")
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            for name, item in value.items():
                if name not in schema.get("properties", {}):
                    yield from walk_rules(extra, item, f"{path}[{name}]")
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for index, item in enumerate(value):
            yield from walk_rules(schema["items"], item, f"{path}[{index}]")


def all_rules(schema: Schema) -> Iterator[str]:
    """Every CEL rule text in a schema, wherever it sits."""
    for rule in schema.get("x-kubernetes-validations", []):
        yield rule["rule"]
    for key in ("properties",):
        for sub in schema.get(key, {}).values():
            yield from all_rules(sub)
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict):
            yield from all_rules(schema[key])


def cel_violations(schema: Schema, obj: dict[str, Any]) -> list[Violation]:
    violations = []
    for path, rule, value in walk_rules(schema, obj, ""):
        expr = rule["rule"]
        if "oldSelf" in expr:
            continue  # transition rules do not run on create
        try:
            result = _program(expr).evaluate({"self": json_to_cel(value)})
        except Exception as exc:  # celpy raises what a server reports as an error
            result = exc
        if isinstance(result, Exception) or not bool(result):
            message = rule.get("message", f"failed rule: {expr}")
            violations.append(Violation(path or ".", message, "cel"))
    return violations


def admission_violations(obj: dict[str, Any]) -> list[Violation]:
    """What a real API server with the shared CRD installed would refuse in ``obj``."""
    schema = schema_for(obj["apiVersion"], obj["kind"])
    defaulted = apply_defaults(schema, copy.deepcopy(obj))
    meta = obj.get("metadata", {})
    problems = [] if meta.get("name") else [Violation(".metadata.name", "required", "schema")]
    problems += schema_violations(schema, defaulted)
    if not problems:
        problems = cel_violations(schema, defaulted)
    return problems


def is_third_party(obj: dict[str, Any]) -> bool:
    """Whether ``obj`` is an instance of one of the shared CRDs' kinds."""
    group = obj.get("apiVersion", "").rpartition("/")[0]
    return (group, obj.get("kind", "")) in load_crds()
