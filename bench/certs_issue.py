"""What a production campaign client certificate costs over cryptography's own floors.

Issues N client certificates per key algorithm six ways, interleaved in small blocks
so that noise from other processes on the machine hits all of them alike:

- ``bare``: generate the leaf key and make one CA signature over a fixed message;
- ``minimal``: the leaf key plus a builder certificate with subject (one CN), issuer,
  key, serial and validity, no extensions, signed by the CA. Subject and validity are
  built per certificate, as every real certificate needs its own. Built with the
  builder's documented chained setters (the form production uses); no PEM encoding;
- ``minimal_static``: the same with subject and validity built once outside the loop
  (not like for like: shown only to size what building them costs);
- ``minimal_ctor``: ``minimal`` built with the builder's one-call constructor, which
  skips the setters' checks and copies. It is the cheapest way ``cryptography`` offers
  to sign a certificate, so it is the strictest floor and the one the headline ratio
  is taken against;
- ``minimal_pem``: ``minimal`` plus what makes it Secret-ready, with cryptography's own
  calls: leaf PEM, PKCS#8 key PEM and the CA PEM (``ca.crt``), all per certificate;
- ``production``: :func:`certs.issue_client_certificate` (identity validation, subject
  O/OU/CN, SPIFFE URI SAN, basicConstraints, keyUsage, EKU, SKI, AKI, validity capped at
  the CA, the key/certificate match check) followed by :func:`certs.tls_secret_data`
  (PEM leaf, PKCS#8 PEM key, ``ca.crt``): a Secret ready to apply.

There is no target: the PKI builds certificates the way ``cryptography`` documents, and
this reports what that costs. The headline is production / ``minimal_ctor`` (production
also encodes PEM and six extensions, so the ratio includes that work on purpose); the
other ratios say where the difference goes.
Times are per-certificate CPU time of this process (``time.process_time``): the machine
is shared, and wall time then mostly measures the other tenants. Wall-clock medians are
in the JSON as well.
Run: ``python -m bench.certs_issue [--ecdsa-count 1000] [--rsa-count 100]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cryptography
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.x509.oid import NameOID

import certs

RESULTS = Path(__file__).parent / "results" / "certs_issue.json"
BLOCK = 20
MESSAGE = b"x" * 256
VARIANTS = ("bare", "minimal_static", "minimal", "minimal_ctor", "minimal_pem", "production")


def _bare(ca: certs.CertificateAuthority, algorithm: certs.KeyAlgorithm) -> Callable[[], object]:
    ca_key = ca.private_key

    def run() -> object:
        certs.generate_private_key(algorithm)
        if isinstance(ca_key, ec.EllipticCurvePrivateKey):
            return ca_key.sign(MESSAGE, ec.ECDSA(hashes.SHA256()))
        return ca_key.sign(MESSAGE, padding.PKCS1v15(), hashes.SHA256())

    return run


def _minimal(ca: certs.CertificateAuthority, algorithm: certs.KeyAlgorithm) -> Callable[[], object]:
    issuer = ca.certificate.subject
    counter = iter(range(10**9))

    def run() -> object:
        key = certs.generate_private_key(algorithm)
        start = dt.datetime.now(dt.UTC)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"campaign-{next(counter)}")])
        return (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(issuer)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(start + dt.timedelta(days=90))
            .sign(ca.private_key, hashes.SHA256())
        )

    return run


def _minimal_ctor(
    ca: certs.CertificateAuthority, algorithm: certs.KeyAlgorithm
) -> Callable[[], object]:
    issuer = ca.certificate.subject
    counter = iter(range(10**9))

    def run() -> object:
        key = certs.generate_private_key(algorithm)
        start = dt.datetime.now(dt.UTC)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"campaign-{next(counter)}")])
        return x509.CertificateBuilder(
            issuer_name=issuer,
            subject_name=name,
            public_key=key.public_key(),
            serial_number=x509.random_serial_number(),
            not_valid_before=start,
            not_valid_after=start + dt.timedelta(days=90),
        ).sign(ca.private_key, hashes.SHA256())

    return run


def _minimal_pem(
    ca: certs.CertificateAuthority, algorithm: certs.KeyAlgorithm
) -> Callable[[], object]:
    issuer = ca.certificate.subject
    counter = iter(range(10**9))

    def run() -> object:
        key = certs.generate_private_key(algorithm)
        start = dt.datetime.now(dt.UTC)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"campaign-{next(counter)}")])
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(issuer)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(start + dt.timedelta(days=90))
            .sign(ca.private_key, hashes.SHA256())
        )
        return {
            "tls.crt": cert.public_bytes(serialization.Encoding.PEM).decode("ascii"),
            "tls.key": key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ).decode("ascii"),
            "ca.crt": ca.certificate.public_bytes(serialization.Encoding.PEM).decode("ascii"),
        }

    return run


def _minimal_static(
    ca: certs.CertificateAuthority, algorithm: certs.KeyAlgorithm
) -> Callable[[], object]:
    issuer = ca.certificate.subject
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "campaign")])
    start = dt.datetime.now(dt.UTC)
    end = start + dt.timedelta(days=90)

    def run() -> object:
        key = certs.generate_private_key(algorithm)
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(end)
            .sign(ca.private_key, hashes.SHA256())
        )

    return run


def _production(
    ca: certs.CertificateAuthority, algorithm: certs.KeyAlgorithm
) -> Callable[[], object]:
    bundle = certs.trust_bundle(ca)
    counter = iter(range(10**9))

    def run() -> object:
        n = next(counter)
        issued = certs.issue_client_certificate(
            ca,
            campaign_name=f"campaign-{n}",
            campaign_id=f"c-{n}",
            role="sales",
            key_algorithm=algorithm,
        )
        return certs.tls_secret_data(issued, bundle)

    return run


def measure(algorithm: certs.KeyAlgorithm, count: int) -> dict[str, Any]:
    """Per-certificate CPU times (ms) of the variants, interleaved in blocks."""
    ca = certs.create_root_ca("Bench CA", validity=dt.timedelta(days=365), key_algorithm=algorithm)
    variants = {
        "bare": _bare(ca, algorithm),
        "minimal_static": _minimal_static(ca, algorithm),
        "minimal": _minimal(ca, algorithm),
        "minimal_ctor": _minimal_ctor(ca, algorithm),
        "minimal_pem": _minimal_pem(ca, algorithm),
        "production": _production(ca, algorithm),
    }
    for run in variants.values():  # warm-up: imports, caches, first allocations
        run()
    cpu: dict[str, list[float]] = {name: [] for name in variants}
    wall: dict[str, list[float]] = {name: [] for name in variants}
    done = 0
    while done < count:
        size = min(BLOCK, count - done)
        for name, run in variants.items():
            for _ in range(size):
                began_wall, began_cpu = time.perf_counter(), time.process_time()
                run()
                cpu[name].append((time.process_time() - began_cpu) * 1000)
                wall[name].append((time.perf_counter() - began_wall) * 1000)
        done += size
    stats = {
        name: {
            "median_ms": statistics.median(cpu[name]),
            "mean_ms": statistics.fmean(cpu[name]),
            "p90_ms": statistics.quantiles(cpu[name], n=10)[-1],
            "wall_median_ms": statistics.median(wall[name]),
        }
        for name in variants
    }

    def ratio(a: str, b: str) -> float:
        return float(stats[a]["median_ms"] / stats[b]["median_ms"])

    return {
        "algorithm": algorithm.value,
        "count": count,
        "variants": stats,
        "headline": "ratio_production_vs_minimal_ctor",
        "ratio_production_vs_minimal_ctor": ratio("production", "minimal_ctor"),
        "ratio_production_vs_minimal": ratio("production", "minimal"),
        "ratio_production_vs_minimal_static": ratio("production", "minimal_static"),
        "ratio_production_vs_minimal_pem": ratio("production", "minimal_pem"),
        "ratio_production_vs_bare": ratio("production", "bare"),
        "ratio_minimal_vs_bare": ratio("minimal", "bare"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--ecdsa-count", type=int, default=1000)
    parser.add_argument("--rsa-count", type=int, default=100, help="RSA keygen is ~40 ms each")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()

    results = [
        measure(certs.KeyAlgorithm.ECDSA_P256, args.ecdsa_count),
        measure(certs.KeyAlgorithm.RSA_2048, args.rsa_count),
    ]
    names = {
        "bare": "bare",
        "minimal_static": "min-static",
        "minimal": "minimal",
        "minimal_ctor": "min-ctor",
        "minimal_pem": "min+pem",
        "production": "prod",
    }
    print(f"{'algorithm':<11}{'n':>6}" + "".join(f"{names[k]:>11}" for k in VARIANTS) + "   (ms)")
    for r in results:
        medians = "".join(f"{r['variants'][k]['median_ms']:>11.3f}" for k in VARIANTS)
        print(f"{r['algorithm']:<11}{r['count']:>6}{medians}")
    ratios = (
        ("prod/min-ctor", "ratio_production_vs_minimal_ctor"),
        ("prod/min", "ratio_production_vs_minimal"),
        ("prod/min+pem", "ratio_production_vs_minimal_pem"),
        ("prod/static", "ratio_production_vs_minimal_static"),
        ("prod/bare", "ratio_production_vs_bare"),
    )
    print(f"{'algorithm':<11}" + "".join(f"{label:>15}" for label, _ in ratios))
    for r in results:
        print(f"{r['algorithm']:<11}" + "".join(f"{r[key]:>15.2f}" for _, key in ratios))
    print(
        "CPU-time medians per certificate; ratios of medians. Headline: prod/min-ctor, the\n"
        "strictest floor. minimal/min-static/min-ctor: keygen + build + sign, no PEM. min+pem\n"
        "adds leaf, key and CA PEM. prod: full client certificate and its Secret PEM."
    )
    for r in results:
        walls = " / ".join(f"{r['variants'][k]['wall_median_ms']:.3f}" for k in VARIANTS)
        print(f"  {r['algorithm']} wall-clock medians {'/'.join(VARIANTS)} ms: {walls}")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "benchmark": "certs_issue",
        "measured_at": dt.datetime.now(dt.UTC).isoformat(),
        "python": platform.python_version(),
        "cryptography": cryptography.__version__,
        "machine": platform.machine(),
        "timer": "time.process_time per certificate",
        "pem_encoding": {
            "bare": False,
            "minimal_static": False,
            "minimal": False,
            "minimal_ctor": False,
            "minimal_pem": True,
            "production": True,
        },
        "results": results,
    }
    args.output.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
