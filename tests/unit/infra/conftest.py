"""Run the Pulumi program under mocks: a fresh event loop and mock monitor per run.

A stack transformation records each resource's options (ignore_changes, depends_on,
protect), which the mock monitor does not see.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Iterator
from typing import Any

import pulumi
import pytest

from infra.config import parse_stack_config
from infra.program import Platform, build_platform
from tests.unit.infra.mocks import PlatformMocks


@dataclasses.dataclass
class Run:
    platform: Platform
    mocks: PlatformMocks
    outputs: dict[str, Any]
    options: dict[str, pulumi.ResourceOptions]  # by Pulumi logical name


Runner = Callable[..., Run]


@pytest.fixture
def run_program() -> Iterator[Runner]:
    """``run_program(config_values, existing_secrets=..., program=...)`` → :class:`Run`."""
    loops: list[asyncio.AbstractEventLoop] = []

    def run(
        values: dict[str, Any] | None = None,
        existing_secrets: dict[str, dict[str, str]] | None = None,
        program: Callable[[], Platform] | None = None,
    ) -> Run:
        loop = asyncio.new_event_loop()
        loops.append(loop)
        asyncio.set_event_loop(loop)
        mocks = PlatformMocks(existing_secrets)
        pulumi.runtime.set_mocks(mocks, project="promptsales", stack="test", preview=False)
        config = parse_stack_config(values or {})
        holder: dict[str, Platform] = {}
        settled: dict[str, Any] = {}
        options: dict[str, pulumi.ResourceOptions] = {}

        def record(args: pulumi.ResourceTransformationArgs) -> None:
            options[args.name] = args.opts

        @pulumi.runtime.test
        def body() -> pulumi.Output[Any]:
            pulumi.runtime.register_stack_transformation(record)
            platform = program() if program is not None else build_platform(config)
            holder["platform"] = platform
            return pulumi.Output.from_input(platform.outputs).apply(settled.update)

        body()
        return Run(holder["platform"], mocks, settled, options)

    yield run
    for loop in loops:
        # A failed run (e.g. a missing external Secret key) leaves Output tasks pending;
        # finish them here so they are not destroyed mid-flight at interpreter exit.
        pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
        for task in pending:
            task.cancel()
        if pending:
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.close()
    asyncio.set_event_loop(None)
