"""``promptsales certs rotate-ca``: roll the platform CA over without breaking a connection.

Registered into the ``certs`` command group by the application (``promptsales_cli.main``):
the rollover reaches a cluster and the local platform, which the PKI library does not.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import typer
from cryptography.x509.oid import NameOID

import certs
from certs.keys import KeyAlgorithm, algorithm_of
from certs.rotation import DEFAULT_PROPAGATION_DELAY
from certs.settings import load_certs_settings
from certs.validity import utcnow
from promptsales.config import load_settings
from promptsales_cli.ca_rollover.driver import CaTarget, NewCa, RotateOptions, rotate, status
from promptsales_cli.local.progress import StepFailedError
from promptsales_cli.local.settings import LocalSettings
from workloads.pods import CA_SECRET

# The MCP server checks its certificate files every 10 s (PROMPTSALES_MCP_TLS_RELOAD_SECONDS).
LOCAL_PROPAGATION_DELAY = dt.timedelta(seconds=30)


def new_ca_factory(
    common_name: str | None, validity: dt.timedelta, key_algorithm: KeyAlgorithm | None
) -> NewCa:
    """A new root like the current one: same CN, path length and key type unless given."""

    def make(current: certs.CertificateAuthority, now: dt.datetime) -> certs.CertificateAuthority:
        names = current.certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        cn = common_name or (str(names[0].value) if names else "PromptSales Platform CA")
        return certs.create_root_ca(
            cn,
            validity=validity,
            key_algorithm=key_algorithm or algorithm_of(current.private_key),
            path_length=current.path_length,
            now=now,
        )

    return make


def _target(kubeconfig: Path | None, namespace: str, secret_name: str) -> CaTarget:
    if kubeconfig is None:
        from promptsales_cli.ca_rollover.local import LocalCaTarget

        return LocalCaTarget(load_settings(LocalSettings).home.resolve())
    from promptsales_cli.ca_rollover.kubernetes import SecretCaTarget
    from promptsales_cli.local.cluster import connect

    return SecretCaTarget(connect(kubeconfig, namespace), secret_name)


def rotate_ca(
    kubeconfig: Annotated[
        Path | None,
        typer.Option(
            help="Rotate this cluster's promptsales-ca Secret (never taken from $KUBECONFIG). "
            "Without it: the local platform's CA (.promptsales/pki).",
        ),
    ] = None,
    namespace: Annotated[str, typer.Option(help="Namespace of the CA Secret.")] = "promptsales",
    secret: Annotated[str, typer.Option(help="Name of the CA Secret.")] = CA_SECRET,
    wait: Annotated[
        bool, typer.Option("--wait", help="Keep going until the rollover completes.")
    ] = False,
    timeout_minutes: Annotated[
        float, typer.Option(min=0.1, help="Give up waiting after this long (--wait).")
    ] = 30.0,
    propagation_seconds: Annotated[
        float | None,
        typer.Option(
            min=0,
            help="How long mounted files take to reach every pod "
            "(default 120 for a cluster, 30 locally).",
        ),
    ] = None,
    common_name: Annotated[
        str | None, typer.Option("--common-name", "--cn", help="New CA's CN (default: current).")
    ] = None,
    validity_days: Annotated[int | None, typer.Option(min=1, help="New CA's lifetime.")] = None,
    key_algorithm: Annotated[
        KeyAlgorithm | None, typer.Option(help="New CA's key type (default: current).")
    ] = None,
    show_status: Annotated[
        bool, typer.Option("--status", help="Show where a rollover stands; change nothing.")
    ] = False,
) -> None:
    """Roll the platform CA over: start a rollover, or continue the one in progress.

    Three phases, each entered only when it is safe: the new CA joins every ca.crt while
    the old CA signs; then the new CA signs and every leaf is re-issued (by the operator
    in a cluster); the old CA leaves ca.crt only after every leaf moved. Each run does
    what is safe now and says what it waits for; run it again, or pass --wait.
    """
    delay = (
        dt.timedelta(seconds=propagation_seconds)
        if propagation_seconds is not None
        else DEFAULT_PROPAGATION_DELAY
        if kubeconfig is not None
        else LOCAL_PROPAGATION_DELAY
    )
    try:
        settings = load_certs_settings()
        target = _target(kubeconfig, namespace, secret)
        typer.echo(target.where)
        if show_status:
            typer.echo(status(target, delay, now=utcnow()))
            return
        validity = (
            dt.timedelta(days=validity_days) if validity_days is not None else settings.ca_validity
        )
        rotate(
            target,
            RotateOptions(
                propagation_delay=delay,
                wait=wait,
                timeout=dt.timedelta(minutes=timeout_minutes),
            ),
            new_ca_factory(common_name, validity, key_algorithm),
            echo=typer.echo,
        )
    except (certs.CertificateError, StepFailedError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
