"""``infra/__main__.py``'s entry point: stack configuration read through Pulumi."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pulumi
import pytest

from infra.program import Platform, main
from promptsales.config import ConfigError
from tests.unit.infra.conftest import Runner


@pytest.fixture
def stack_config() -> Iterator[None]:
    yield
    pulumi.runtime.set_all_config({})


def _main() -> Platform:
    main()
    return Platform({}, {})


@pytest.mark.usefixtures("stack_config")
def test_main_reads_the_stack_objects_through_pulumi_config(run_program: Runner) -> None:
    pulumi.runtime.set_all_config(
        {
            "promptsales:platform": json.dumps({"namespace": "ps-staging", "tier": "single"}),
            "promptsales:cluster": json.dumps({"context": "staging-admin"}),
        }
    )
    run = run_program(program=_main)
    (provider,) = [r for r in run.mocks.registered if r.typ == "pulumi:providers:kubernetes"]
    assert provider.plain["context"] == "staging-admin"
    namespaces = {m["metadata"].get("namespace") for m in run.mocks.manifests()}
    assert namespaces == {None, "ps-staging", "promptsales-data"}


@pytest.mark.usefixtures("stack_config")
def test_main_stops_on_bad_configuration_naming_the_key(run_program: Runner) -> None:
    pulumi.runtime.set_all_config({"promptsales:pki": json.dumps({"server_validity_days": 5000})})
    with pytest.raises(ConfigError, match=r"promptsales:pki\.server_validity_days"):
        run_program(program=_main)
