"""The ``PromptSalesCampaign`` CRD, generated from the typed API in :mod:`workloads.campaign_api`.

``python -m workloads.crd`` writes ``crds/promptsalescampaigns.promptsales.io.yaml`` (what
``kubectl apply`` users install); ``--check`` fails when that file differs from what the
models generate, and a test runs the check. The Pulumi program and ``promptsales render``
build the CRD with :func:`campaign_crd` directly.

Pydantic's JSON Schema is close to, but not, a Kubernetes structural schema, so it is
translated: ``$ref`` inlined, optional fields unwrapped from ``anyOf [T, null]``, titles and
``additionalProperties: false`` dropped (a structural schema must not combine
``additionalProperties`` with ``properties``; pruning and strict field validation reject
unknown fields instead), object defaults spelled out in full (the API server checks a
default against the object's CEL rules without applying the nested defaults first, so a
``default: {}`` would fail ``duration(self.renewBefore) < ...``), CEL rules attached, and
``metadata`` left as the bare ``type: object`` the API server insists on.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from promptsales.generated import generated_file_main
from workloads import campaign_api as api
from workloads.common import Manifest, labels

CRD_NAME = f"{api.PLURAL}.{api.GROUP}"
CRD_FILE = Path(__file__).resolve().parent.parent / "crds" / f"{CRD_NAME}.yaml"
HEADER = "# Generated from workloads/campaign_api.py by `python -m workloads.crd`; do not edit.\n"

_COPIED_KEYWORDS = (
    "type",
    "format",
    "enum",
    "pattern",
    "minLength",
    "maxLength",
    "minimum",
    "maximum",
    "minItems",
    "maxItems",
    "required",
)


def _text(description: str) -> str:
    return " ".join(description.split())


def _resolve(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """Inline ``$ref`` and unwrap ``anyOf [T, null]`` (an optional field is just absent)."""
    if "$ref" in node:
        target = defs[node["$ref"].rsplit("/", 1)[-1]]
        node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
    if "anyOf" in node:
        options = [o for o in node["anyOf"] if o.get("type") != "null"]
        if len(options) != 1:
            raise ValueError(f"cannot express anyOf {node['anyOf']!r} structurally")
        rest = {k: v for k, v in node.items() if k != "anyOf"}
        node = {**_resolve(options[0], defs), **rest}
    return node


def _model_of(annotation: Any) -> type[api.ApiModel] | None:
    candidates = [annotation, *getattr(annotation, "__args__", ())]
    for candidate in candidates:
        if isinstance(candidate, type) and issubclass(candidate, api.ApiModel):
            return candidate
    return None


def _items_model(node: dict[str, Any], defs: dict[str, Any]) -> Any:
    """The API model an array's items are (by their ``$ref``), if any."""
    ref = node["items"].get("$ref", "")
    return getattr(api, ref.rsplit("/", 1)[-1], None) if ref else None


def _structural(
    node: dict[str, Any], defs: dict[str, Any], model: type[BaseModel] | None
) -> dict[str, Any]:
    node = _resolve(node, defs)
    out: dict[str, Any] = {}
    for key in _COPIED_KEYWORDS:
        if key in node:
            out[key] = node[key]
    if "description" in node:
        out["description"] = _text(node["description"])
    if node.get("default") is not None:
        out["default"] = node["default"]
    if "properties" in node:
        fields = dict(model.model_fields) if model is not None else {}
        by_alias = {(f.alias or name): f for name, f in fields.items()}
        out["properties"] = {}
        for name, child in node["properties"].items():
            field = by_alias.get(name)
            child_model = _model_of(field.annotation) if field is not None else None
            out["properties"][name] = _structural(child, defs, child_model)
            if field is not None and field.default_factory is not None:
                # Pydantic leaves factory defaults out; a nested object's default is spelled
                # out in full (see the module docstring).
                default = field.default_factory()  # type: ignore[call-arg]
                if isinstance(default, BaseModel):
                    default = default.model_dump(mode="json", by_alias=True, exclude_none=True)
                out["properties"][name]["default"] = default
    if "items" in node:
        out["items"] = _structural(node["items"], defs, _model_of(_items_model(node, defs)))
    for key, value in node.items():
        if key.startswith("x-kubernetes-"):
            out[key] = value
    if model is not None and issubclass(model, api.ApiModel) and model.CEL_RULES:
        out["x-kubernetes-validations"] = [rule.manifest() for rule in model.CEL_RULES]
    return out


def model_schema(model: type[api.ApiModel]) -> dict[str, Any]:
    """The structural OpenAPI v3 schema of one API model."""
    raw = model.model_json_schema(by_alias=True, mode="validation")
    return _structural(raw, raw.get("$defs", {}), model)


def openapi_schema() -> dict[str, Any]:
    """The whole ``openAPIV3Schema`` of the served version."""
    spec = model_schema(api.CampaignSpec)
    status = model_schema(api.CampaignStatus)
    return {
        "type": "object",
        "description": _text(api.CAMPAIGN_DESCRIPTION),
        "required": ["spec"],
        "x-kubernetes-validations": [rule.manifest() for rule in api.ROOT_RULES],
        "properties": {
            "apiVersion": {
                "type": "string",
                "description": f"Versioned schema of this representation ({api.API_VERSION}).",
            },
            "kind": {
                "type": "string",
                "description": f"The REST resource this object represents ({api.KIND}).",
            },
            # The API server accepts nothing here but the bare type (not even a description).
            "metadata": {"type": "object"},
            "spec": spec,
            "status": status,
        },
    }


def campaign_crd() -> Manifest:
    """The CustomResourceDefinition manifest."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": CRD_NAME, "labels": labels("operator", "pulumi")},
        "spec": {
            "group": api.GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": api.KIND,
                "listKind": api.LIST_KIND,
                "plural": api.PLURAL,
                "singular": api.SINGULAR,
                "shortNames": list(api.SHORT_NAMES),
                "categories": ["promptsales"],
            },
            "versions": [
                {
                    "name": api.VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": [c.manifest() for c in api.PRINTER_COLUMNS],
                    "schema": {"openAPIV3Schema": openapi_schema()},
                }
            ],
        },
    }


def crd_yaml() -> str:
    return HEADER + yaml.safe_dump(campaign_crd(), sort_keys=False, width=100)


def main(argv: list[str] | None = None) -> int:
    return generated_file_main(
        argv,
        prog="python -m workloads.crd",
        description="Generate the PromptSalesCampaign CRD.",
        default_output=CRD_FILE,
        render=crd_yaml,
    )


if __name__ == "__main__":
    raise SystemExit(main())
