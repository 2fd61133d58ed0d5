"""Mutual TLS for the HTTP binding (ALP-SEC-011, ALP-SEC-012): contexts, identities, a dev CA.

An agent's certificate names it with the URI subject alternative name
``urn:agentlink:agent:<agent id>``; the same certificate serves it as a server and proves
it as a client. Both sides trust one CA file. Contexts refuse anything older than TLS 1.2
and negotiate TLS 1.3 whenever the peer offers it.

:class:`DevCA` mints a throw-away CA and agent certificates for tests and development
(``cryptography`` does the work); production certificates come from the plant's PKI.
"""

from __future__ import annotations

import datetime
import ipaddress
import ssl
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from agentlink.model import UsageError

__all__ = [
    "AGENT_URI_PREFIX",
    "DevCA",
    "IssuedCert",
    "TlsConfig",
    "agent_id_of",
    "client_context",
    "server_context",
]

#: The URI SAN that names an agent in its certificate.
AGENT_URI_PREFIX: Final = "urn:agentlink:agent:"

_PathLike = str | Path


def _with_minimum(context: ssl.SSLContext) -> ssl.SSLContext:
    # TLS 1.2 at least (ALP-SEC-011); OpenSSL picks 1.3 when both sides have it (SEC-012).
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def _load(what: str, func: Any, *args: Any, **kwargs: Any) -> None:
    try:
        func(*args, **kwargs)
    except (OSError, ssl.SSLError) as exc:
        raise UsageError(f"cannot load the {what}: {exc}") from None


def server_context(
    *,
    cert_file: _PathLike,
    key_file: _PathLike,
    ca_file: _PathLike | None,
    require_client_cert: bool = True,
) -> ssl.SSLContext:
    """A server context presenting ``cert_file`` and verifying clients against ``ca_file``.

    Args:
        require_client_cert: refuse the handshake of a client without a certificate
            signed by the CA (mutual TLS); False asks for one but accepts none.

    Raises:
        UsageError: a file cannot be read, or a client certificate is required without
            a CA to check it against.
    """
    context = _with_minimum(ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER))
    _load("server certificate", context.load_cert_chain, str(cert_file), str(key_file))
    if ca_file is not None:
        _load("CA certificates", context.load_verify_locations, cafile=str(ca_file))
        context.verify_mode = ssl.CERT_REQUIRED if require_client_cert else ssl.CERT_OPTIONAL
    elif require_client_cert:
        raise UsageError("mutual TLS needs a CA file to verify client certificates")
    return context


def client_context(
    *,
    ca_file: _PathLike | None,
    cert_file: _PathLike | None = None,
    key_file: _PathLike | None = None,
) -> ssl.SSLContext:
    """A client context that verifies servers (name and chain) against ``ca_file`` (the
    system's trust store when None) and presents ``cert_file`` when given.

    Raises:
        UsageError: a file cannot be read.
    """
    context = _with_minimum(ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT))
    if ca_file is None:
        context.load_default_certs()
    else:
        _load("CA certificates", context.load_verify_locations, cafile=str(ca_file))
    if cert_file is not None:
        _load(
            "client certificate",
            context.load_cert_chain,
            str(cert_file),
            None if key_file is None else str(key_file),
        )
    return context


@dataclass(frozen=True, slots=True, kw_only=True)
class TlsConfig:
    """One agent process's TLS material (PEM files).

    Attributes:
        cert_file: its certificate chain, presented as a server and as a client.
        key_file: the private key of ``cert_file``.
        ca_file: the CA that signs peers' certificates (servers and clients).
        require_client_cert: mutual TLS (default); False serves TLS to any client and
            takes an identity only from those that present a certificate.
        client_cert_file: a different certificate to present as a client, if any.
        client_key_file: the key of ``client_cert_file``.
    """

    cert_file: _PathLike
    key_file: _PathLike
    ca_file: _PathLike | None
    require_client_cert: bool = True
    client_cert_file: _PathLike | None = None
    client_key_file: _PathLike | None = None

    def server_context(self) -> ssl.SSLContext:
        """The context to serve with."""
        return server_context(
            cert_file=self.cert_file,
            key_file=self.key_file,
            ca_file=self.ca_file,
            require_client_cert=self.require_client_cert,
        )

    def client_context(self) -> ssl.SSLContext:
        """The context to call other agents with."""
        if self.client_cert_file is not None:
            return client_context(
                ca_file=self.ca_file, cert_file=self.client_cert_file, key_file=self.client_key_file
            )
        return client_context(
            ca_file=self.ca_file, cert_file=self.cert_file, key_file=self.key_file
        )


def agent_id_of(cert: Mapping[str, Any] | x509.Certificate | bytes | None) -> str | None:
    """The agent id a certificate names in its ``urn:agentlink:agent:<id>`` URI SAN.

    ``cert`` is what :meth:`ssl.SSLSocket.getpeercert` returns for a verified peer, a
    ``cryptography`` certificate, or PEM/DER bytes. A certificate naming no agent, or
    several, names none: it identifies nobody.
    """
    if cert is None:
        return None
    uris: list[str]
    if isinstance(cert, Mapping):
        uris = [v for kind, v in cert.get("subjectAltName", ()) if kind == "URI"]
    else:
        if isinstance(cert, bytes):
            loader = (
                x509.load_pem_x509_certificate
                if cert.lstrip().startswith(b"-----")
                else x509.load_der_x509_certificate
            )
            cert = loader(cert)
        try:
            san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        except x509.ExtensionNotFound:
            return None
        uris = san.value.get_values_for_type(x509.UniformResourceIdentifier)
    ids = [u[len(AGENT_URI_PREFIX) :] for u in uris if u.startswith(AGENT_URI_PREFIX)]
    return ids[0] if len(ids) == 1 and ids[0] else None


# -- a development CA ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class IssuedCert:
    """A certificate and its private key, PEM."""

    cert_pem: bytes
    key_pem: bytes

    def write(self, directory: _PathLike, name: str) -> tuple[Path, Path]:
        """Write ``<name>.pem`` and ``<name>.key`` (mode 0600) into ``directory``."""
        folder = Path(directory)
        folder.mkdir(parents=True, exist_ok=True)
        cert_path, key_path = folder / f"{name}.pem", folder / f"{name}.key"
        cert_path.write_bytes(self.cert_pem)
        key_path.touch(mode=0o600)
        key_path.write_bytes(self.key_pem)
        return cert_path, key_path


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


class DevCA:
    """A throw-away certificate authority for tests and development (ECDSA P-256).

    ::

        ca = DevCA.generate()
        config = ca.tls_config(tmp_path, "cnc-7")   # writes ca.pem, cnc-7.pem, cnc-7.key
        HttpTransport(tls=config)
    """

    def __init__(self, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> None:
        self.cert = cert
        self._key = key

    @classmethod
    def generate(cls, name: str = "agentlink development CA", *, days: int = 30) -> DevCA:
        """A new CA with a fresh key, valid from an hour ago for ``days`` days."""
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = datetime.datetime.now(datetime.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=False,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
            .sign(key, hashes.SHA256())
        )
        return cls(cert, key)

    @classmethod
    def load(cls, cert_pem: bytes, key_pem: bytes) -> DevCA:
        """A CA from the PEM files :meth:`write` wrote with ``with_key=True``.

        Raises:
            UsageError: they are not a certificate and its ECDSA key.
        """
        try:
            cert = x509.load_pem_x509_certificate(cert_pem)
            key = serialization.load_pem_private_key(key_pem, password=None)
        except ValueError as exc:
            raise UsageError(f"cannot read the CA: {exc}") from None
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise UsageError("the CA key is not an ECDSA key")
        return cls(cert, key)

    @property
    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def issue(
        self,
        agent_id: str | None,
        *,
        hosts: Iterable[str] = ("localhost", "127.0.0.1"),
        days: int = 30,
    ) -> IssuedCert:
        """A certificate for ``agent_id`` (its URI SAN; None: no agent name) that also
        names ``hosts`` (DNS names or IP addresses), good for serving and for calling."""
        key = ec.generate_private_key(ec.SECP256R1())
        names: list[x509.GeneralName] = []
        if agent_id is not None:
            names.append(x509.UniformResourceIdentifier(AGENT_URI_PREFIX + agent_id))
        for host in hosts:
            try:
                names.append(x509.IPAddress(ipaddress.ip_address(host)))
            except ValueError:
                names.append(x509.DNSName(host))
        now = datetime.datetime.now(datetime.UTC)
        builder = (
            x509.CertificateBuilder()
            .subject_name(
                x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, agent_id or "agentlink")])
            )
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.ExtendedKeyUsage(
                    [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
                ),
                critical=False,
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self._key.public_key()), False
            )
        )
        if names:
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        cert = builder.sign(self._key, hashes.SHA256())
        return IssuedCert(cert.public_bytes(serialization.Encoding.PEM), _key_pem(key))

    def write(self, directory: _PathLike, *, with_key: bool = False) -> Path:
        """Write the CA certificate as ``ca.pem``, and with ``with_key`` its key as
        ``ca.key`` (mode 0600, to issue more certificates later); returns the ``ca.pem``
        path."""
        folder = Path(directory)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "ca.pem"
        path.write_bytes(self.cert_pem)
        if with_key:
            IssuedCert(self.cert_pem, _key_pem(self._key)).write(folder, "ca")
        return path

    def tls_config(
        self,
        directory: _PathLike,
        agent_id: str | None,
        *,
        hosts: Iterable[str] = ("localhost", "127.0.0.1"),
        require_client_cert: bool = True,
    ) -> TlsConfig:
        """Issue a certificate for ``agent_id``, write it with the CA certificate into
        ``directory``, and return the :class:`TlsConfig` that uses them."""
        ca_path = self.write(directory)
        cert_path, key_path = self.issue(agent_id, hosts=hosts).write(
            directory, agent_id or "anonymous"
        )
        return TlsConfig(
            cert_file=cert_path,
            key_file=key_path,
            ca_file=ca_path,
            require_client_cert=require_client_cert,
        )
