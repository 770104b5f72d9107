"""Admission for custom resources the way an API server does it: default, validate, run CEL.

No emulator here validates custom resources, so the CRD's own openAPIV3Schema is applied
with ``jsonschema`` and its ``x-kubernetes-validations`` rules with ``cel-python``. The
Kubernetes extensions jsonschema does not know are translated (``list-type: set`` means
unique items); transition rules (those naming ``oldSelf``) run only on updates where the old
value exists, as in Kubernetes.

:func:`definition_violations` checks the CRD itself the way kube-apiserver does when it is
created, for the rules a real server refused this project's CRD on (the emulator runs it
on every CRD it stores): the root ``metadata`` may specify nothing but its type, a
structural schema never combines ``properties`` with ``additionalProperties``, and every
``default`` must pass its own schema and CEL rules as written (the server does not apply
the nested defaults inside a default before checking it).
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import celpy
import jsonschema
import yaml
from celpy.adapter import json_to_cel

REPO_ROOT = Path(__file__).resolve().parents[2]
CRD_PATH = REPO_ROOT / "crds" / "promptsalescampaigns.promptsales.io.yaml"

Schema = dict[str, Any]


@dataclass(frozen=True)
class Violation:
    """One admission failure: where, and the message a person would see from kubectl."""

    path: str
    message: str
    kind: str  # "schema" or "cel"


class AdmissionError(ValueError):
    """The object would be rejected by the API server (HTTP 422)."""

    def __init__(self, violations: list[Violation]) -> None:
        self.violations = violations
        super().__init__("; ".join(f"{v.path}: {v.message}" for v in violations))


@functools.cache
def load_crd(path: Path = CRD_PATH) -> dict[str, Any]:
    with path.open() as fh:
        crd: dict[str, Any] = yaml.safe_load(fh)
    return crd


def version_schema(crd: dict[str, Any], version: str = "v1alpha1") -> Schema:
    for item in crd["spec"]["versions"]:
        if item["name"] == version:
            schema: Schema = item["schema"]["openAPIV3Schema"]
            return schema
    raise KeyError(version)


def apply_defaults(schema: Schema, value: Any) -> Any:
    """Structural defaulting: fill absent properties that declare a default, recursively."""
    if isinstance(value, dict) and schema.get("type") == "object":
        for name, prop in schema.get("properties", {}).items():
            if name not in value and "default" in prop:
                value[name] = copy.deepcopy(prop["default"])
            if name in value:
                value[name] = apply_defaults(prop, value[name])
    elif isinstance(value, list) and "items" in schema:
        return [apply_defaults(schema["items"], item) for item in value]
    return value


def _to_jsonschema(schema: Schema) -> Schema:
    """Drop Kubernetes-only keywords and translate the ones with a JSON Schema meaning."""
    out: Schema = {}
    for key, val in schema.items():
        if key.startswith("x-kubernetes-"):
            if key == "x-kubernetes-list-type" and val == "set":
                out["uniqueItems"] = True
            continue
        if key == "properties":
            out[key] = {name: _to_jsonschema(sub) for name, sub in val.items()}
        elif key == "items":
            out[key] = _to_jsonschema(val)
        else:
            out[key] = val
    return out


def _walk_rules(
    schema: Schema, value: Any, old: Any, path: str
) -> Iterator[tuple[str, dict[str, Any], Any, Any]]:
    for rule in schema.get("x-kubernetes-validations", []):
        yield path, rule, value, old
    if isinstance(value, dict):
        for name, prop in schema.get("properties", {}).items():
            if name in value:
                old_child = old.get(name) if isinstance(old, dict) else None
                yield from _walk_rules(prop, value[name], old_child, f"{path}.{name}")


@functools.cache
def _program(rule: str) -> Any:
    env = celpy.Environment()
    return env.program(env.compile(rule))


def cel_violations(
    schema: Schema, obj: dict[str, Any], old: dict[str, Any] | None
) -> list[Violation]:
    violations = []
    for path, rule, value, old_value in _walk_rules(schema, obj, old, ""):
        expr = rule["rule"]
        activation: dict[str, Any] = {"self": json_to_cel(value)}
        if "oldSelf" in expr:
            if old_value is None:
                continue  # transition rules do not run on create
            activation["oldSelf"] = json_to_cel(old_value)
        result = _program(expr).evaluate(activation)
        if isinstance(result, Exception) or not bool(result):
            message = rule.get("message", f"failed rule: {expr}")
            violations.append(Violation(path or ".", message, "cel"))
    return violations


def schema_violations(schema: Schema, obj: dict[str, Any]) -> list[Violation]:
    validator = jsonschema.Draft7Validator(
        _to_jsonschema(schema), format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER
    )
    return [
        Violation("." + ".".join(str(p) for p in err.absolute_path), err.message, "schema")
        for err in sorted(validator.iter_errors(obj), key=lambda e: list(e.absolute_path))
    ]


def _walk_schema(schema: Schema, path: str) -> Iterator[tuple[str, Schema]]:
    yield path, schema
    for name, prop in schema.get("properties", {}).items():
        yield from _walk_schema(prop, f"{path}.properties[{name}]")
    if "items" in schema:
        yield from _walk_schema(schema["items"], f"{path}.items")


def definition_violations(crd: dict[str, Any]) -> list[str]:
    """What kube-apiserver would refuse in this CRD (the rules above), as its messages."""
    problems: list[str] = []
    for version in crd["spec"]["versions"]:
        root = version["schema"]["openAPIV3Schema"]
        base = "spec.validation.openAPIV3Schema"
        metadata = root.get("properties", {}).get("metadata")
        if metadata is not None and set(metadata) - {"type"}:
            problems.append(
                f"{base}.properties[metadata]: Forbidden: must not specify anything other "
                "than name and generateName, but metadata is implicitly specified"
            )
        for path, node in _walk_schema(root, base):
            if "properties" in node and "additionalProperties" in node:
                problems.append(
                    f"{path}: Forbidden: additionalProperties and properties are mutual exclusive"
                )
            if "default" not in node:
                continue
            value = copy.deepcopy(node["default"])
            for violation in schema_violations(node, value):
                problems.append(f"{path}.default: Invalid value: {violation.message}")
            for path_, rule, self_value, _ in _walk_rules(node, value, None, ""):
                if "oldSelf" in rule["rule"]:
                    continue
                try:
                    result = _program(rule["rule"]).evaluate({"self": json_to_cel(self_value)})
                except Exception as exc:  # celpy raises what a server reports as an error
                    result = exc
                if isinstance(result, Exception):
                    problems.append(
                        f"{path}.default{path_}: Invalid value: {result} evaluating rule: "
                        f"{rule.get('message', rule['rule'])}"
                    )
                elif not bool(result):
                    problems.append(f"{path}.default{path_}: Invalid value: {rule.get('message')}")
    return problems


class DefinitionError(ValueError):
    """The CustomResourceDefinition itself would be refused (HTTP 422)."""


def admit_definition(crd: dict[str, Any], old: dict[str, Any] | None = None) -> dict[str, Any]:
    """Admission for CustomResourceDefinition objects (see :func:`definition_violations`)."""
    problems = definition_violations(crd)
    if problems:
        raise DefinitionError("; ".join(problems))
    return crd


def admit(
    obj: dict[str, Any], old: dict[str, Any] | None = None, crd: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Return the defaulted object, or raise AdmissionError with every violation."""
    schema = version_schema(crd or load_crd())
    result = apply_defaults(schema, copy.deepcopy(obj))
    violations = schema_violations(schema, result)
    if not violations:
        violations = cel_violations(schema, result, old)
    if violations:
        raise AdmissionError(violations)
    return result  # type: ignore[no-any-return]
