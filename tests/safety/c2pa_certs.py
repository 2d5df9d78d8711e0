"""A throwaway CA and ES256 signing certificate made with ``cryptography`` at test time (no files shipped)."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn), x509.NameAttribute(NameOID.ORGANIZATION_NAME, "genzoo tests")])


def _usage(**on) -> x509.KeyUsage:
    names = ("digital_signature", "content_commitment", "key_encipherment", "data_encipherment", "key_agreement",
             "key_cert_sign", "crl_sign", "encipher_only", "decipher_only")
    return x509.KeyUsage(**{n: on.get(n, False) for n in names})


def _cert(subject, issuer, public_key, signing_key, days, ca: bool):
    now = dt.datetime.now(dt.timezone.utc)
    b = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(public_key)
         .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=2))
         .not_valid_after(now + dt.timedelta(days=days))
         .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
         .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False))
    if ca:
        b = b.add_extension(_usage(key_cert_sign=True, crl_sign=True), critical=True)
    else:
        b = (b.add_extension(_usage(digital_signature=True), critical=True)
             .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
             .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(signing_key.public_key()), critical=False))
    return b.sign(signing_key, hashes.SHA256())


def pem(cert) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def key_pem(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def make_pki(root: Path, leaf_days: int = 30) -> dict[str, Path]:
    """``ca.pem`` (trust anchor), ``chain.pem`` (leaf + CA), ``key.pem`` (the leaf's P-256 key) and
    some bad inputs: ``other_key.pem`` (a different key), ``rsa_key.pem``, ``self_signed.pem``."""
    root.mkdir(parents=True, exist_ok=True)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = _cert(_name("genzoo test CA"), _name("genzoo test CA"), ca_key.public_key(), ca_key, 60, ca=True)
    leaf = _cert(_name("genzoo test signer"), ca.subject, key.public_key(), ca_key, leaf_days, ca=False)
    lone = _cert(_name("lone signer"), _name("lone signer"), key.public_key(), key, 30, ca=False)
    files = {"ca": pem(ca), "chain": pem(leaf) + pem(ca), "key": key_pem(key),
             "other_key": key_pem(ec.generate_private_key(ec.SECP256R1())),
             "rsa_key": key_pem(rsa.generate_private_key(public_exponent=65537, key_size=2048)),
             "self_signed": pem(lone)}
    out = {}
    for name, data in files.items():
        out[name] = root / f"{name}.pem"
        out[name].write_bytes(data)
    return out
