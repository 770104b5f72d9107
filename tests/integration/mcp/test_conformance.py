"""The server as third-party clients see it: the MCP conformance suite and the MCP Inspector CLI.

Both are Node.js programs (tests/conformance, installed from its lock by
scripts/conformance-tools.sh, which scripts/test.sh runs). They talk to the real server over
HTTPS with the test CA and a valid bearer token, as a deployed agent would. The suite's
server mode has no option for credentials, so tests/conformance/with_bearer.mjs adds the
token to every request the suite's process makes; the server is not relaxed for it.

Every server scenario the installed suite lists is in one of three groups: run and must
pass (``FIXTURE_FREE``: they need nothing from the server but the protocol), run and must
end exactly as a documented design choice says (``NOT_OFFERED``), or not run
(``NEEDS_FIXTURES``: they call tools, prompts or resources with fixed names such as
``test_simple_text`` or ``test://static-text`` that only the suite's reference
"everything" server has). A scenario added by a newer suite fails the listing test until
it is sorted into one of them.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from mcp_server.content.store import ContentStore
from tests.integration.mcp.conftest import RunningServer, TokenIssuer, serve

TOOLS_DIR = Path(__file__).resolve().parents[2] / "conformance"
MODULES = TOOLS_DIR / "node_modules"
NODE = MODULES / ".bin" / "node"
CONFORMANCE = MODULES / "@modelcontextprotocol" / "conformance" / "dist" / "index.js"
INSPECTOR = MODULES / "@modelcontextprotocol" / "inspector" / "clients" / "launcher" / "build"
INSPECTOR_MAIN = INSPECTOR / "index.js"
WITH_BEARER = TOOLS_DIR / "with_bearer.mjs"
STAMP = MODULES / ".promptsales-install-stamp"
INSTALL = "bash scripts/conformance-tools.sh"

# Scenarios that need nothing from the server but the protocol: each must pass.
FIXTURE_FREE = (
    "server-initialize",
    "ping",
    "tools-list",
    "resources-list",
    "prompts-list",
    "dns-rebinding-protection",
    "logging-set-level",
    "server-sse-multiple-streams",
)

# Scenarios that need no fixture but a feature this server leaves out on purpose; each is
# run and must end exactly as that choice says (anything else fails the test).
NOT_OFFERED: dict[str, str] = {}  # none at present

# Scenarios that call the reference server's fixtures by name; this server has none of them.
NEEDS_FIXTURES: dict[str, str] = {
    "completion-complete": "completes prompt `test_prompt_with_arguments`",
    "tools-call-simple-text": "calls tool `test_simple_text` (the unknown-tool error passes it)",
    "tools-call-image": "calls tool `test_image_content`",
    "tools-call-audio": "calls tool `test_audio_content`",
    "tools-call-embedded-resource": "calls tool `test_embedded_resource`",
    "tools-call-mixed-content": "calls tool `test_multiple_content_types`",
    "tools-call-with-logging": "calls tool `test_tool_with_logging`",
    "tools-call-error": "calls tool `test_error_handling` (the unknown-tool error passes it)",
    "tools-call-with-progress": "calls tool `test_tool_with_progress`",
    "tools-call-sampling": "calls tool `test_sampling`",
    "tools-call-elicitation": "calls tool `test_elicitation`",
    "json-schema-2020-12": "looks for tool `json_schema_2020_12_tool`",
    "elicitation-sep1034-defaults": "calls tool `test_elicitation_sep1034_defaults`",
    "elicitation-sep1330-enums": "calls tool `test_elicitation_sep1330_enums`",
    "server-sse-polling": "calls tool `test_reconnection`",
    "resources-read-text": "reads resource `test://static-text`",
    "resources-read-binary": "reads resource `test://static-binary`",
    "resources-templates-read": "reads template `test://template/{id}/data`",
    "resources-subscribe": "subscribes to `test://watched-resource`",
    "resources-unsubscribe": "unsubscribes from `test://watched-resource`",
    "prompts-get-simple": "gets prompt `test_simple_prompt`",
    "prompts-get-with-args": "gets prompt `test_prompt_with_arguments`",
    "prompts-get-embedded-resource": "gets prompt `test_prompt_with_embedded_resource`",
    "prompts-get-with-image": "gets prompt `test_prompt_with_image`",
}


@dataclass
class NodeResult:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def node_tools() -> Path:
    """The installed tools; a missing or stale install fails with the command that fixes it."""
    lock = TOOLS_DIR / "package-lock.json"
    if not (NODE.exists() and CONFORMANCE.exists() and INSPECTOR_MAIN.exists()):
        pytest.fail(
            f"the MCP conformance tools are not installed in {MODULES}: run `{INSTALL}` "
            "(scripts/test.sh runs it; it needs npm and the npm registry or npm's cache)",
            pytrace=False,
        )
    if (
        not STAMP.exists()
        or STAMP.read_text().strip() != hashlib.sha256(lock.read_bytes()).hexdigest()
    ):
        pytest.fail(
            f"the MCP conformance tools in {MODULES} do not match {lock.name}: run `{INSTALL}`",
            pytrace=False,
        )
    return TOOLS_DIR


def _node_env(ca_file: Path | None, home: Path, token: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("NODE_", "npm_", "PROMPTSALES_"))
    }
    env.update(
        PATH=f"{NODE.parent}{os.pathsep}{env.get('PATH', '')}",
        HOME=str(home),  # the Inspector keeps its catalog and secrets under ~/.mcp-inspector
        PROMPTSALES_CONFORMANCE_BEARER=token,
        NO_COLOR="1",
    )
    if ca_file is not None:
        env["NODE_EXTRA_CA_CERTS"] = str(ca_file)  # trust the test CA, as any agent would
    return env


def _local_url(server: RunningServer) -> str:
    """The endpoint by host name (the test certificate names ``localhost``)."""
    return server.mcp_url.replace("://127.0.0.1:", "://localhost:", 1)


async def _node(args: list[str], env: dict[str, str], cwd: Path) -> NodeResult:
    process = await asyncio.create_subprocess_exec(
        str(NODE),
        *args,
        env=env,
        cwd=cwd,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), 180)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise AssertionError(f"node {' '.join(args[:4])} ... did not finish in 180 s") from None
    assert process.returncode is not None
    return NodeResult(process.returncode, stdout.decode(), stderr.decode())


async def _scenario(
    url: str, name: str, env: dict[str, str], out: Path
) -> tuple[NodeResult, list[dict[str, Any]]]:
    """Run one server scenario through the bearer preload; its result and its checks."""
    directory = out / name
    directory.mkdir(parents=True)
    result = await _node(
        [
            "--import",
            WITH_BEARER.as_uri(),
            str(CONFORMANCE),
            "server",
            "--url",
            url,
            "--scenario",
            name,
            "--output-dir",
            str(directory),
        ],
        env,
        out,
    )
    files = list(directory.glob("*/checks.json"))
    assert len(files) == 1, (name, result.stdout, result.stderr)
    checks: list[dict[str, Any]] = json.loads(files[0].read_text())
    return result, checks


def _failures(result: NodeResult, checks: list[dict[str, Any]]) -> str | None:
    """Why a scenario that must pass did not: a failed or warning check, or a bad exit."""
    bad = [c for c in checks if c["status"] in {"FAILURE", "WARNING"}]
    if bad:
        return "; ".join(f"{c['id']}: {c['status']} {c.get('errorMessage', '')}" for c in bad)
    if not any(c["status"] == "SUCCESS" for c in checks):
        return "no check succeeded"
    if result.returncode != 0:
        return f"exit {result.returncode}: {result.stderr[-500:]}"
    return None


def _summary(checks: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(c["id"], c["status"]) for c in checks if c["status"] != "INFO"]


async def test_every_server_scenario_is_sorted(node_tools: Path) -> None:
    """Each scenario the installed suite lists is run here or has its reason written down."""
    result = await _node([str(CONFORMANCE), "list", "--server"], dict(os.environ), node_tools)
    assert result.returncode == 0, result.stderr
    listed = set(re.findall(r"^\s+- (\S+)", result.stdout, re.MULTILINE))
    assert listed, result.stdout
    groups = [set(FIXTURE_FREE), set(NOT_OFFERED), set(NEEDS_FIXTURES)]
    assert set().union(*groups) == listed
    assert sum(map(len, groups)) == len(listed)  # no scenario in two groups


# Nine Node processes one after another: about 45 s on a quiet machine, minutes on a busy one.
@pytest.mark.timeout(900)
async def test_conformance_scenarios_without_fixtures_pass(
    node_tools: Path,
    seeded_store: ContentStore,
    settings_factory: Any,
    app_factory: Any,
    tokens: TokenIssuer,
    tmp_path: Path,
) -> None:
    token = tokens.token("marketing", expires_in=900)
    home, results = tmp_path / "home", tmp_path / "results"
    outcomes: dict[str, str | None] = {}
    checks_of: dict[str, list[dict[str, Any]]] = {}
    async with serve(app_factory(settings_factory())) as server:
        env = _node_env(server.ca_file, home, token)
        for name in (*FIXTURE_FREE, *NOT_OFFERED):
            result, checks = await _scenario(_local_url(server), name, env, results)
            checks_of[name] = checks
            outcomes[name] = _failures(result, checks) if name in FIXTURE_FREE else None
    # The scenario's own scope: a localhost server without TLS (still with a bearer token).
    async with serve(app_factory(settings_factory(tls=False))) as plain:
        result, checks = await _scenario(
            plain.mcp_url,
            "dns-rebinding-protection",
            _node_env(None, home, token),
            results / "http",
        )
        outcomes["dns-rebinding-protection (plain HTTP)"] = _failures(result, checks)
        checks_of["dns-rebinding-protection (plain HTTP)"] = checks
    for name, why in outcomes.items():
        verdict = "not offered (checked below)" if name in NOT_OFFERED else "PASS"
        print(f"{name}: {verdict if why is None else 'FAIL ' + why}")

    failed = {name: why for name, why in outcomes.items() if why is not None}
    assert not failed, json.dumps(failed, indent=2)
    for name in ("dns-rebinding-protection", "dns-rebinding-protection (plain HTTP)"):
        # The foreign Host is refused by the Host check (421), not for want of a token.
        refused = next(c for c in checks_of[name] if c["id"] == "localhost-host-rebinding-rejected")
        assert refused["details"]["statusCode"] == 421, refused
    # The features left out end exactly as NOT_OFFERED says, and in no other way.


async def test_inspector_cli_lists_and_calls_tools(
    node_tools: Path,
    seeded_store: ContentStore,
    settings_factory: Any,
    app_factory: Any,
    tokens: TokenIssuer,
    tmp_path: Path,
) -> None:
    token = tokens.token("marketing", expires_in=900)
    async with serve(app_factory(settings_factory())) as server:
        env = _node_env(server.ca_file, tmp_path / "home", token)
        common = [
            str(INSPECTOR_MAIN),
            "--cli",
            _local_url(server),
            "--transport",
            "http",
            "--header",
            f"Authorization: Bearer {token}",
            "--format",
            "json",
        ]

        async def call(arguments: dict[str, Any]) -> NodeResult:
            return await _node(
                [
                    *common,
                    "--method",
                    "tools/call",
                    "--tool-name",
                    "getContent",
                    "--tool-args-json",
                    json.dumps(arguments),
                ],
                env,
                tmp_path,
            )

        listed = await _node([*common, "--method", "tools/list", "--strict"], env, tmp_path)
        called = await call({"query": "trail running shoes", "limit": 3})
        refused = await call({"query": "trail running shoes", "limit": 0})
    # --strict: the tool schemas have no portability problem of error severity (exit 6).
    assert listed.returncode == 0, (listed.stdout, listed.stderr)
    tools = {tool["name"]: tool for tool in json.loads(listed.stdout)["result"]["tools"]}
    assert set(tools) == {"getContent", "getCampaignPerformance", "generateCampaignMessages"}
    assert all(tool["inputSchema"].get("additionalProperties") is False for tool in tools.values())
    assert called.returncode == 0, (called.stdout, called.stderr)
    answer = json.loads(called.stdout)["result"]
    assert not answer.get("isError"), answer
    items = answer["structuredContent"]["items"]
    assert len(items) == 3
    assert items[0]["title"].startswith("Trail running shoes")
    # A refused call is a tool error the CLI reports as one, in the project's words.
    assert refused.returncode != 0
    error = json.loads(refused.stdout)["result"]
    assert error["isError"] is True
    assert "limit: must be at least 1" in error["content"][0]["text"]
