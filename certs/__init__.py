"""The platform's X.509 PKI: CAs, leaf issuance, rotation decisions, encoding, verification.

Everything that speaks TLS in PromptSales trusts one platform CA; the operator and the
Pulumi program call this package to issue and renew, the MCP server to authorize mTLS
callers. Only pure functions and explicit file I/O (in the CLI): no clocks are read
where a ``now`` can be passed.
"""

from __future__ import annotations

from certs.authority import (
    CertificateAuthority,
    authority_for_key,
    create_intermediate_ca,
    create_root_ca,
    issued_by,
)
from certs.encoding import (
    TLSSecret,
    load_certificate,
    load_certificates,
    load_private_key,
    load_tls_secret,
    private_key_to_pem,
    secret_payload,
    tls_secret_data,
    to_pem,
)
from certs.errors import (
    CertificateError,
    IdentityError,
    KeyMismatchError,
    MalformedInputError,
    VerificationError,
)
from certs.identity import ClientIdentity, Role, client_identity_from_certificate
from certs.issue import (
    DEFAULT_LEAF_VALIDITY,
    IssuedCertificate,
    issue_client_certificate,
    issue_server_certificate,
)
from certs.keys import KeyAlgorithm, PrivateKey, generate_private_key
from certs.renew import original_validity, reissue
from certs.rollover import CaStore, Leaf, RolloverStep, advance_rollover, begin_rollover
from certs.rotation import (
    RolloverPhase,
    RolloverPlan,
    certificate_renewal_time,
    fingerprint,
    is_renewal_due,
    plan_ca_rollover,
    renewal_time,
    trust_bundle,
)
from certs.verify import verify_client, verify_server

__all__ = [
    "DEFAULT_LEAF_VALIDITY",
    "CaStore",
    "CertificateAuthority",
    "CertificateError",
    "ClientIdentity",
    "IdentityError",
    "IssuedCertificate",
    "KeyAlgorithm",
    "KeyMismatchError",
    "Leaf",
    "MalformedInputError",
    "PrivateKey",
    "Role",
    "RolloverPhase",
    "RolloverPlan",
    "RolloverStep",
    "TLSSecret",
    "VerificationError",
    "advance_rollover",
    "authority_for_key",
    "begin_rollover",
    "certificate_renewal_time",
    "client_identity_from_certificate",
    "create_intermediate_ca",
    "create_root_ca",
    "fingerprint",
    "generate_private_key",
    "is_renewal_due",
    "issue_client_certificate",
    "issue_server_certificate",
    "issued_by",
    "load_certificate",
    "load_certificates",
    "load_private_key",
    "load_tls_secret",
    "original_validity",
    "plan_ca_rollover",
    "private_key_to_pem",
    "reissue",
    "renewal_time",
    "secret_payload",
    "tls_secret_data",
    "to_pem",
    "trust_bundle",
    "verify_client",
    "verify_server",
]
