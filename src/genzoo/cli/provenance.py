"""``genzoo provenance sign|verify``: C2PA manifests on images (``genzoo.safety.provenance``, docs/provenance.md)."""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Optional

import typer

from ..errors import ConfigError

provenance_app = typer.Typer(help="C2PA provenance: genzoo provenance sign IMAGE --cert CHAIN.pem --key KEY.pem "
                             "--out SIGNED; genzoo provenance verify FILE.", no_args_is_help=True)

CERT_HELP = "PEM certificate chain, signing certificate first (ES256: EC P-256)."
KEY_HELP = "PEM private key of the signing certificate (unencrypted PKCS#8 or SEC1)."
C2PA_CERT_HELP = ("Sign the written image with a C2PA manifest: this PEM certificate chain (with --c2pa-key; "
                  "or set GENZOO_C2PA_CERT / GENZOO_C2PA_KEY). See docs/provenance.md.")
C2PA_KEY_HELP = "The PEM private key for --c2pa-cert."


@provenance_app.command("sign")
def sign_cmd(
    image: Path = typer.Argument(..., help="A PNG or JPEG image."),
    cert: Path = typer.Option(..., "--cert", help=CERT_HELP),
    key: Path = typer.Option(..., "--key", help=KEY_HELP),
    out: Path = typer.Option(..., "--out", help="Where the signed copy goes (same format as IMAGE)."),
    model: Optional[Path] = typer.Option(None, "--model", help="The saved model that made IMAGE: its name and "
                                         "weights' SHA-256 go into the manifest."),
    seed: Optional[int] = typer.Option(None, "--seed", help="The seed IMAGE was sampled with, if known."),
    source_type: str = typer.Option("trainedAlgorithmicMedia", "--source-type", help="IPTC digital source type of "
                                    "the c2pa.created action, e.g. trainedAlgorithmicMedia, "
                                    "compositeWithTrainedAlgorithmicMedia, digitalCreation."),
    overwrite: bool = typer.Option(False, help="Replace an existing --out."),
):
    """Sign IMAGE: embed a C2PA manifest (c2pa.created, claim generator genzoo) and write it to --out."""
    from ..safety import provenance as pv

    if not re.fullmatch(r"[A-Za-z]+", source_type):
        raise ConfigError(f"--source-type {source_type!r}: give an IPTC digital source type name, e.g. trainedAlgorithmicMedia")
    if out.exists() and not overwrite:
        raise ConfigError(f"--out {out} exists; pass --overwrite to replace it, or another --out")
    if not image.is_file():
        raise ConfigError(f"{image}: no such file")
    pv.image_format(image.read_bytes(), image)
    if out.suffix.lower() != image.suffix.lower():
        raise ConfigError(f"--out {out}: keep the format of {image} (suffix {image.suffix or 'none'}); signing does not convert")
    found = pv.verify_file(image)
    if found["state"] != "no manifest":
        raise ConfigError(f"{image} already carries a C2PA manifest ({found['state']}); signing again would replace it "
                          "(see genzoo provenance verify)")
    if model is not None and pv.weights_sha256(model) is None:
        raise ConfigError(f"--model {model}: no weights file ({', '.join(pv.WEIGHT_FILES)}) there")
    creds = pv.load_credentials(cert, key)
    manifest = pv.created_manifest(out.name, pv.model_record(model) if model is not None else None,
                                   source_type=pv.IPTC + source_type, seed=seed)
    pv.sign_file(image, out, creds, manifest)
    typer.echo(f"wrote {out} (signed by {creds.subject})")


@provenance_app.command("verify")
def verify_cmd(
    file: Path = typer.Argument(..., help="A PNG or JPEG image."),
    as_json: bool = typer.Option(False, "--json", help="Print the result (state, failures, signer, actions, "
                                 "ingredients, manifest) as JSON."),
    trust_anchors: Optional[Path] = typer.Option(None, "--trust-anchors", help="PEM file of CA certificates to "
                                                 "trust (otherwise no certificate is trusted: state 'valid')."),
):
    """Print FILE's C2PA manifest and its validation state: trusted, valid (untrusted certificate),
    invalid (e.g. changed after signing) or no manifest. Exit code 0 for trusted/valid, 1 otherwise."""
    from ..safety.provenance import describe, verify_file

    result = verify_file(file, trust_anchors)
    typer.echo(json.dumps(result, indent=2) if as_json else "\n".join(describe(result)))
    if result["state"] in ("invalid", "no manifest"):
        raise typer.Exit(1)
