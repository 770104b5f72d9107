"""The rendered YAML means the same to every reader, kubectl's YAML 1.1 one included."""

from __future__ import annotations

import re
from typing import Any

import yaml

from workloads.render import PlatformSpec, platform_manifests, to_yaml


class Yaml11Loader(yaml.SafeLoader):
    """PyYAML's safe loader, plus the YAML 1.1 booleans PyYAML leaves out and Go's
    yaml.v2 lineage (kubectl's) reads: y, Y, n, N (``ACCEPT_EULA: Y`` became ``true``)."""


Yaml11Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool",
    re.compile(r"^(?:y|Y|n|N)$"),
    list("yYnN"),
)


def _construct_bool(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    value = loader.construct_scalar(node)  # type: ignore[arg-type]
    if value in {"y", "Y", "n", "N"}:
        return value in {"y", "Y"}
    return yaml.SafeLoader.construct_yaml_bool(loader, node)  # type: ignore[arg-type]


Yaml11Loader.add_constructor("tag:yaml.org,2002:bool", _construct_bool)


def test_every_rendered_value_survives_a_yaml_1_1_reader() -> None:
    manifests = platform_manifests(PlatformSpec())
    text = to_yaml(manifests)
    assert list(yaml.load_all(text, Loader=Yaml11Loader)) == manifests


def test_the_sql_server_eula_stays_a_string() -> None:
    text = to_yaml(platform_manifests(PlatformSpec()))
    assert "value: 'Y'" in text
