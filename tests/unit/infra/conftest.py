"""Run the Pulumi program under mocks: a fresh event loop and mock monitor per test."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import pulumi
import pytest

from infra.config import StackConfig, parse_stack_config
from infra.program import Platform, build_platform
from tests.unit.infra.mocks import PlatformMocks

Runner = Callable[..., tuple[Platform, PlatformMocks, dict[str, Any]]]


@pytest.fixture
def run_program() -> Iterator[Runner]:
    """``run_program(config_values, existing_secrets=...)`` → (platform, mocks, outputs)."""
    loops: list[asyncio.AbstractEventLoop] = []

    def run(
        values: dict[str, Any] | None = None,
        existing_secrets: dict[str, dict[str, str]] | None = None,
    ) -> tuple[Platform, PlatformMocks, dict[str, Any]]:
        loop = asyncio.new_event_loop()
        loops.append(loop)
        asyncio.set_event_loop(loop)
        mocks = PlatformMocks(existing_secrets)
        pulumi.runtime.set_mocks(mocks, project="promptsales", stack="test", preview=False)
        config: StackConfig = parse_stack_config(values or {})
        holder: dict[str, Any] = {}
        settled: dict[str, Any] = {}

        @pulumi.runtime.test
        def program() -> pulumi.Output[Any]:
            platform = build_platform(config)
            holder["platform"] = platform
            return pulumi.Output.from_input(platform.outputs).apply(settled.update)

        program()
        return holder["platform"], mocks, settled

    yield run
    for loop in loops:
        loop.close()
    asyncio.set_event_loop(None)
