"""The campaign client identity shared by the operator (which issues) and the MCP server.

Convention (ARCHITECTURE / helper conventions): subject ``O=PromptSales, OU=<role>,
CN=<campaign resource name>``, URI SAN
``spiffe://promptsales.io/campaign/<campaign id>/role/<role>``, EKU clientAuth only.
Authorization reads the SAN, because names in a SAN are what the verifier checks and
what a SPIFFE-aware proxy understands; the subject must agree with it so that a human
reading ``openssl x509 -text`` sees the same identity.
"""

from __future__ import annotations

import dataclasses
import enum
import re

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from certs.errors import IdentityError

ORGANIZATION = "PromptSales"
TRUST_DOMAIN = "promptsales.io"


class Role(enum.StrEnum):
    """Who a campaign client acts for; the MCP server authorizes tools by role."""

    MARKETING = "marketing"
    SALES = "sales"
    USER = "user"


# Campaign resource names (DNS-1123, at most 63 characters: the CRD enforces the same
# limit) become the subject CN, which X.509 caps at 64 characters.
_CAMPAIGN_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,61}[a-z0-9])?$")
# A campaign id becomes one SPIFFE path segment: unreserved characters only.
_CAMPAIGN_ID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
_SPIFFE = re.compile(
    rf"^spiffe://{re.escape(TRUST_DOMAIN)}/campaign/(?P<id>[^/]+)/role/(?P<role>[^/]+)$"
)


@dataclasses.dataclass(frozen=True, slots=True)
class ClientIdentity:
    """A validated campaign identity; constructing one with bad fields raises IdentityError."""

    campaign_name: str
    campaign_id: str
    role: Role

    def __post_init__(self) -> None:
        if not _CAMPAIGN_NAME.fullmatch(self.campaign_name):
            raise IdentityError(
                "campaign_name must be a Kubernetes resource name "
                "(lowercase DNS-1123, at most 63 characters)"
            )
        if self.campaign_id in {".", ".."} or not _CAMPAIGN_ID.fullmatch(self.campaign_id):
            raise IdentityError("campaign_id must be 1-128 characters of [A-Za-z0-9._-]")
        # Accept the plain string too (e.g. from JSON); store the enum member.
        object.__setattr__(self, "role", parse_role(self.role))

    @property
    def spiffe_id(self) -> str:
        """The URI SAN value that carries this identity."""
        return f"spiffe://{TRUST_DOMAIN}/campaign/{self.campaign_id}/role/{self.role.value}"

    def subject(self) -> x509.Name:
        """The subject name written into the certificate."""
        return x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANIZATION),
                x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, self.role.value),
                x509.NameAttribute(NameOID.COMMON_NAME, self.campaign_name),
            ]
        )


def parse_role(value: str) -> Role:
    """A role from text, or IdentityError listing the allowed ones."""
    try:
        return Role(value)
    except ValueError:
        allowed = ", ".join(r.value for r in Role)
        raise IdentityError(f"role must be one of {allowed}") from None


def _single_attribute(name: x509.Name, oid: x509.ObjectIdentifier, label: str) -> str:
    values = name.get_attributes_for_oid(oid)
    if len(values) != 1:
        raise IdentityError(f"subject must hold exactly one {label}")
    value = values[0].value
    return value if isinstance(value, str) else value.decode()


def client_identity_from_certificate(cert: x509.Certificate) -> ClientIdentity:
    """Read and check the campaign identity of an (already chain-verified) client certificate.

    This does not verify the chain: the TLS handshake or :func:`certs.verify_client` does
    that. It refuses certificates that a chain check alone would accept but that must not
    be authorized: no or several PromptSales SPIFFE IDs, an unknown role, a subject that
    disagrees with the SAN, or an EKU other than exactly clientAuth.
    """
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        raise IdentityError("client certificate has no subjectAltName") from None
    uris = [
        u
        for u in san.get_values_for_type(x509.UniformResourceIdentifier)
        if u.startswith("spiffe:")
    ]
    if len(uris) != 1:
        raise IdentityError("client certificate must carry exactly one spiffe:// URI SAN")
    match = _SPIFFE.fullmatch(uris[0])
    if match is None:
        raise IdentityError(f"URI SAN is not spiffe://{TRUST_DOMAIN}/campaign/<id>/role/<role>")
    role = parse_role(match["role"])
    try:
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        raise IdentityError("client certificate has no extendedKeyUsage") from None
    if list(eku) != [ExtendedKeyUsageOID.CLIENT_AUTH]:
        raise IdentityError("client certificate extendedKeyUsage must be clientAuth only")
    subject = cert.subject
    if _single_attribute(subject, NameOID.ORGANIZATION_NAME, "O") != ORGANIZATION:
        raise IdentityError(f"subject O must be {ORGANIZATION}")
    if _single_attribute(subject, NameOID.ORGANIZATIONAL_UNIT_NAME, "OU") != role.value:
        raise IdentityError("subject OU does not match the role in the URI SAN")
    name = _single_attribute(subject, NameOID.COMMON_NAME, "CN")
    return ClientIdentity(campaign_name=name, campaign_id=match["id"], role=role)
