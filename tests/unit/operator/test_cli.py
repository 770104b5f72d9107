"""The operator's command refuses bad configuration before touching any cluster."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from promptsales_cli.main import app


def test_operator_run_exits_2_naming_the_bad_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from promptsales_cli import main as cli

    monkeypatch.setenv("PROMPTSALES_OPERATOR_RESYNC_SECONDS", "-1")
    monkeypatch.setattr("sys.argv", ["promptsales", "operator", "run"])
    with pytest.raises(SystemExit) as info:
        cli.main()
    assert info.value.code == 2
    assert "PROMPTSALES_OPERATOR_RESYNC_SECONDS" in capsys.readouterr().err


def test_operator_group_is_registered() -> None:
    result = CliRunner().invoke(app, ["operator", "run", "--help"])
    assert result.exit_code == 0
    assert "--kubeconfig" in result.output
