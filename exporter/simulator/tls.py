"""HTTPS for the simulator: certificates made at run time, switchable while serving.

``egov-exporter simulate --tls`` serves HTTPS with a certificate signed by a throw-away CA (``ca.pem`` in
``--tls-dir``; give it to the exporter as ``tls.ca_file``).  The served certificate can be switched at run
time to exercise the exporter's ``tls`` failure reason and its expiry warning::

    curl --cacert DIR/ca.pem -X POST 'https://127.0.0.1:9880/-/tls?cert=expired'

Switching closes the open connections, as a server restarted with a new certificate would, so clients see
the new certificate on their next request.  The ``cryptography`` package makes the certificates.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
from pathlib import Path

#: certificate modes: what the simulator presents
CERT_MODES: dict[str, str] = {
    "good": "signed by the simulator's CA, valid for a year",
    "expiring": "signed by the CA, valid, but expires in 3 days (the exporter turns degraded)",
    "expired": "signed by the CA, expired yesterday",
    "self_signed": "self-signed, not trusted by the CA file",
    "wrong_host": "signed by the CA for another host name (wrong.example.invalid)",
}

_LOCAL_NAMES = ("127.0.0.1", "localhost", "::1")


def _imports():
    try:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
    except ImportError:  # pragma: no cover - depends on the environment
        raise RuntimeError(
            "the simulator's --tls needs the 'cryptography' package (pip install cryptography)"
        ) from None
    return x509, hashes, serialization, ec, NameOID, ExtendedKeyUsageOID


def _san(names: tuple[str, ...]):
    x509 = _imports()[0]
    entries = []
    for name in names:
        try:
            entries.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            entries.append(x509.DNSName(name))
    return x509.SubjectAlternativeName(entries)


def _write(directory: Path, stem: str, cert, key) -> tuple[str, str]:
    serialization = _imports()[2]
    cert_path, key_path = directory / f"{stem}.pem", directory / f"{stem}-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    key_path.chmod(0o600)
    return str(cert_path), str(key_path)


def make_certificates(
    directory: str | Path, names: tuple[str, ...] = _LOCAL_NAMES, now: dt.datetime | None = None
) -> dict[str, tuple[str, str]]:
    """Write ``ca.pem`` and one (cert, key) pair per mode of :data:`CERT_MODES` into ``directory``;
    returns ``{"ca": (ca.pem, ca-key.pem), mode: (cert, key), ...}``."""
    x509, hashes, _ser, ec, NameOID, EKU = _imports()
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    now = now or dt.datetime.now(dt.UTC)
    day = dt.timedelta(days=1)

    def name(cn: str):
        return x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "egov-exporter simulator"),
                x509.NameAttribute(NameOID.COMMON_NAME, cn),
            ]
        )

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(name("egov simulator CA"))
        .issuer_name(name("egov simulator CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - day)
        .not_valid_after(now + 3650 * day)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    out = {"ca": _write(directory, "ca", ca, ca_key)}

    def leaf(
        stem: str, hosts: tuple[str, ...], start: dt.datetime, end: dt.datetime, self_signed: bool = False
    ):
        key = ec.generate_private_key(ec.SECP256R1())
        issuer_key, issuer = (key, name(hosts[0])) if self_signed else (ca_key, ca.subject)
        builder = (
            x509.CertificateBuilder()
            .subject_name(name(hosts[0]))
            .issuer_name(issuer)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(end)
            .add_extension(_san(hosts), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([EKU.SERVER_AUTH]), critical=False)
        )
        if not self_signed:
            builder = builder.add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
            )
        out[stem] = _write(directory, stem, builder.sign(issuer_key, hashes.SHA256()), key)

    leaf("good", names, now - day, now + 365 * day)
    leaf("expiring", names, now - 30 * day, now + 3 * day)
    leaf("expired", names, now - 60 * day, now - day)
    leaf("self_signed", names, now - day, now + 365 * day, self_signed=True)
    leaf("wrong_host", ("wrong.example.invalid",), now - day, now + 365 * day)
    return out


class ServerCertificates:
    """The simulator's TLS contexts, one per certificate mode; ``mode`` picks the one served."""

    def __init__(self, directory: str | Path) -> None:
        self.files = make_certificates(directory)
        self.ca_file = self.files["ca"][0]
        self.contexts: dict[str, ssl.SSLContext] = {}
        for mode in CERT_MODES:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.minimum_version = ssl.TLSVersion.TLSv1_2
            ctx.load_cert_chain(*self.files[mode])
            self.contexts[mode] = ctx
        self.mode = "good"

    def wrap(self, sock):
        """The accepted socket wrapped for TLS; the handshake happens on first use in the handler thread."""
        return self.contexts[self.mode].wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
