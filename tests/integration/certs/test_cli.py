"""``promptsales certs`` end to end through the real command tree and the filesystem."""

from __future__ import annotations

import base64
import json
import stat
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

import certs
from promptsales_cli.main import app

runner = CliRunner()


@pytest.fixture(autouse=True)
def _isolated_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROMPTSALES_SECRETS_DIR", "/nonexistent")
    for name in ("KEY_PASSWORD", "KEY_ALGORITHM", "RENEW_BEFORE", "LEAF_VALIDITY"):
        monkeypatch.delenv(f"PROMPTSALES_CERTS_{name}", raising=False)


def _run(*args: str, code: int = 0) -> str:
    result = runner.invoke(app, ["certs", *args])
    assert result.exit_code == code, result.output
    return result.output


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def ca_dir(tmp_path: Path) -> Path:
    _run("create-ca", "--cn", "PromptSales Root", "--out-dir", str(tmp_path))
    return tmp_path


def test_create_ca_writes_key_with_mode_0600(ca_dir: Path) -> None:
    assert _mode(ca_dir / "ca.key") == 0o600
    ca = certs.load_certificate((ca_dir / "ca.crt").read_text())
    assert ca.subject.rfc4514_string() == "CN=PromptSales Root,O=PromptSales"
    key = certs.load_private_key((ca_dir / "ca.key").read_text())
    assert key.public_key() == ca.public_key()


def test_create_ca_refuses_to_overwrite(ca_dir: Path) -> None:
    before = (ca_dir / "ca.key").read_bytes()
    output = _run("create-ca", "--cn", "again", "--out-dir", str(ca_dir), code=1)
    assert "exists" in output
    assert (ca_dir / "ca.key").read_bytes() == before


def test_intermediate_then_client_then_verify(ca_dir: Path, tmp_path: Path) -> None:
    _run(
        "create-ca", "--cn", "Issuing", "--name", "issuing", "--out-dir", str(ca_dir),
        "--parent-cert", str(ca_dir / "ca.crt"), "--parent-key", str(ca_dir / "ca.key"),
    )  # fmt: skip
    out = tmp_path / "client"
    out.mkdir()
    _run(
        "issue", "client", "--ca-cert", str(ca_dir / "issuing.crt"),
        "--ca-key", str(ca_dir / "issuing.key"), "--campaign-name", "spring",
        "--campaign-id", "c-1", "--role", "sales", "--out-dir", str(out),
    )  # fmt: skip
    assert _mode(out / "tls.key") == 0o600
    assert len(certs.load_certificates((out / "tls.crt").read_text())) == 2
    assert certs.load_certificates((out / "ca.crt").read_text()) == [
        certs.load_certificate((ca_dir / "ca.crt").read_text())
    ]
    output = _run(
        "verify", str(out / "tls.crt"), "--trust-bundle", str(out / "ca.crt"), "--purpose", "client"
    )
    assert "campaign identity: name=spring id=c-1 role=sales" in output
    refused = _run(
        "verify", str(out / "tls.crt"), "--trust-bundle", str(out / "ca.crt"),
        "--hostname", "spring", code=1,
    )  # fmt: skip
    assert refused.startswith("error: server certificate rejected")


def test_issue_server_and_inspect(ca_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "srv"
    out.mkdir()
    _run(
        "issue", "server", "--ca-cert", str(ca_dir / "ca.crt"), "--ca-key", str(ca_dir / "ca.key"),
        "--cn", "mcp", "--dns", "promptsales-mcp.promptsales.svc", "--ip", "10.0.0.1",
        "--validity-days", "30", "--out-dir", str(out),
    )  # fmt: skip
    facts = json.loads(_run("inspect", str(out / "tls.crt"), "--json"))
    assert len(facts) == 1
    item = facts[0]
    assert item["sans"] == ["DNS:promptsales-mcp.promptsales.svc", "IP:10.0.0.1"]
    cert = certs.load_certificate((out / "tls.crt").read_text())
    assert item["serial"] == f"{cert.serial_number:x}"
    assert item["sha256_fingerprint"] == certs.fingerprint(cert)
    assert item["renewal_time"] == certs.certificate_renewal_time(cert).isoformat()
    assert not item["renewal_due"]
    text = _run("inspect", str(out / "tls.crt"))
    assert "sha256_fingerprint" in text
    assert "PRIVATE KEY" not in text
    _run(
        "verify", str(out / "tls.crt"), "--trust-bundle", str(out / "ca.crt"),
        "--hostname", "10.0.0.1",
    )  # fmt: skip


def test_bad_role_writes_nothing(ca_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "bad"
    out.mkdir()
    output = _run(
        "issue", "client", "--ca-cert", str(ca_dir / "ca.crt"), "--ca-key", str(ca_dir / "ca.key"),
        "--campaign-name", "x", "--campaign-id", "1", "--role", "admin", "--out-dir", str(out),
        code=1,
    )  # fmt: skip
    assert "role must be one of" in output
    assert list(out.iterdir()) == []


def test_encrypted_keys_use_the_configured_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROMPTSALES_CERTS_KEY_PASSWORD", "correct horse")
    _run("create-ca", "--cn", "Root", "--out-dir", str(tmp_path))
    assert (tmp_path / "ca.key").read_text().startswith("-----BEGIN ENCRYPTED PRIVATE KEY")
    out = tmp_path / "leaf"
    out.mkdir()
    args = (
        "issue", "client", "--ca-cert", str(tmp_path / "ca.crt"),
        "--ca-key", str(tmp_path / "ca.key"), "--campaign-name", "x", "--campaign-id", "1",
        "--role", "user", "--out-dir", str(out),
    )  # fmt: skip
    _run(*args)
    monkeypatch.setenv("PROMPTSALES_CERTS_KEY_PASSWORD", "wrong")
    output = _run(*args, "--force", code=1)
    assert "wrong password" in output
    assert "correct horse" not in output


def test_due_in_directory_and_secret_manifest(ca_dir: Path, tmp_path: Path) -> None:
    _run(
        "issue", "client", "--ca-cert", str(ca_dir / "ca.crt"), "--ca-key", str(ca_dir / "ca.key"),
        "--campaign-name", "spring", "--campaign-id", "1", "--role", "user",
        "--validity-days", "30", "--out-dir", str(tmp_path), "--secret-name", "spring-tls",
    )  # fmt: skip
    manifest_path = tmp_path / "spring-tls.yaml"
    assert _mode(manifest_path) == 0o600
    manifest = yaml.safe_load(manifest_path.read_text())
    assert manifest["type"] == "kubernetes.io/tls"
    assert set(manifest["stringData"]) == {"tls.crt", "tls.key", "ca.crt"}
    leaf = certs.load_certificate(manifest["stringData"]["tls.crt"])
    renew_at = certs.certificate_renewal_time(leaf)

    before = _run("due", str(manifest_path), "--at", (renew_at.replace(microsecond=0)).isoformat())
    assert "1 of 2 certificates due" in before
    assert "spring-tls/tls.crt#0" in before
    early = renew_at.replace(day=1, month=1, year=renew_at.year - 1).isoformat()
    assert "0 of 2 certificates due" in _run("due", str(manifest_path), "--at", early)

    # The same Secret as the API server returns it: base64 `data`, wrapped in a List.
    listed = {
        "kind": "List",
        "items": [
            {
                "kind": "Secret",
                "metadata": {"name": "spring-tls"},
                "data": {
                    k: base64.b64encode(v.encode()).decode()
                    for k, v in manifest["stringData"].items()
                },
            }
        ],
    }
    (tmp_path / "listed.yml").write_text(yaml.safe_dump(listed))
    _run("due", str(tmp_path / "listed.yml"), "--at", renew_at.isoformat(), "--fail-if-due", code=3)

    # Directory scan: the CA, the Secret manifest and the listed copy; key files unread.
    output = _run("due", str(tmp_path), "--at", renew_at.isoformat())
    assert "2 of 5 certificates due" in output


def test_due_refuses_malformed_input(tmp_path: Path) -> None:
    (tmp_path / "broken.pem").write_text(
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
    )
    assert "broken.pem: malformed" in _run("due", str(tmp_path / "broken.pem"), code=1)
    assert "--at must be" in _run("due", str(tmp_path), "--at", "2026-01-01T00:00:00", code=1)


def test_due_directory_skips_key_files(ca_dir: Path) -> None:
    (ca_dir / "extra-key.pem").write_text((ca_dir / "ca.key").read_text())
    output = _run("due", str(ca_dir))
    assert "0 of 1 certificates due" in output
