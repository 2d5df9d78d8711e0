"""C2PA provenance for generated images: signed manifests written and checked with c2pa-python.

A manifest (C2PA 2.x, https://c2pa.org/specifications) is a signed claim embedded in the file (a
``caBX`` chunk in PNG, APP11 segments in JPEG) that lists *assertions* about the asset plus a hash of
its bytes. genzoo writes:

- ``c2pa.created`` with digital source type ``trainedAlgorithmicMedia`` (IPTC) for ``genzoo sample``
  and pipeline outputs; its parameters name the model, the SHA-256 of its weights file, the sampler,
  steps, seed (and a watermark key id when there is one: never the key itself);
- ``c2pa.opened`` + ``c2pa.edited`` for ``genzoo edit``, with the source image(s) as ingredients
  (``parentOf`` for the first, ``componentOf`` for the rest), so a signed source keeps its history.

Signing is ES256 (ECDSA P-256 / SHA-256) with the user's PEM certificate chain (leaf first, then its
CA certificates) and PKCS#8 key, with no timestamp authority (works offline; the signature is then
valid only while the certificate is). Verification reports one of four states:

- ``trusted``: signature and content hashes check out, the chain ends in a given trust anchor;
- ``valid``: they check out but the certificate is not on a trust list ("signed by an untrusted
  certificate": a self-made CA without ``--trust-anchors`` lands here);
- ``invalid``: a hash or the signature fails (e.g. a pixel changed after signing);
- ``no manifest``: nothing to check (never signed, or the manifest was stripped, e.g. by re-saving).
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import io
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._version import GENZOO_VERSION as __version__
from ..errors import ConfigError, DataError

IPTC = "http://cv.iptc.org/newscodes/digitalsourcetype/"
TRAINED = IPTC + "trainedAlgorithmicMedia"
COMPOSITE = IPTC + "compositeWithTrainedAlgorithmicMedia"
FORMATS = {b"\x89PNG\r\n\x1a\n": "image/png", b"\xff\xd8\xff": "image/jpeg"}
ENV_CERT, ENV_KEY = "GENZOO_C2PA_CERT", "GENZOO_C2PA_KEY"
WEIGHT_FILES = ("model.safetensors", "adapter_model.safetensors", "unet/diffusion_pytorch_model.safetensors",
                "diffusion_pytorch_model.safetensors")
UNTRUSTED = "signingCredential.untrusted"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


def _c2pa():
    """The c2pa module, or a one-line error saying how to install it (the ``provenance`` extra)."""
    import importlib.util

    try:
        import c2pa

        if importlib.util.find_spec("cryptography") is None:  # the certificate checks
            raise ImportError("No module named 'cryptography'")
    except ImportError as e:
        raise ConfigError(f"C2PA provenance needs c2pa-python and cryptography ({e}); pip install 'genzoo[provenance]'") from None
    return c2pa


def image_format(data: bytes, name: str | os.PathLike = "") -> str:
    """The MIME type of PNG or JPEG bytes (by their signature, not the file name); else a DataError."""
    for magic, mime in FORMATS.items():
        if data.startswith(magic):
            return mime
    raise DataError(f"{name or 'the image'}: unsupported image format (C2PA signing here takes PNG or JPEG)")


# --- credentials ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Credentials:
    """A checked ES256 signing identity: PEM chain (leaf first) and PEM private key."""
    chain: bytes
    key: bytes
    subject: str

    def signer(self):
        c2pa = _c2pa()

        return c2pa.Signer.from_info(c2pa.C2paSignerInfo(c2pa.C2paSigningAlg.ES256, self.chain, self.key, None))


def load_credentials(cert, key, flags: tuple[str, str] = ("--cert", "--key")) -> Credentials:
    """Read and check a certificate chain and key, with one-line errors naming ``flags``.

    Checks what c2pa would otherwise reject later with a vaguer message: PEM syntax, an unencrypted
    P-256 EC key (ES256), that the key belongs to the first certificate, its validity dates, and that
    the leaf is not self-signed (C2PA requires a CA-issued signing certificate).
    """
    _c2pa()
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    cflag, kflag = flags
    chain, key_pem = _read(cert, cflag), _read(key, kflag)
    try:
        certs = x509.load_pem_x509_certificates(chain)
    except ValueError:
        raise ConfigError(f"{cflag} {cert}: not a PEM certificate chain (-----BEGIN CERTIFICATE----- blocks, leaf first)") from None
    try:
        private = serialization.load_pem_private_key(key_pem, password=None)
    except TypeError:
        raise ConfigError(f"{kflag} {key}: the key is encrypted; give an unencrypted PKCS#8 PEM key") from None
    except ValueError:
        raise ConfigError(f"{kflag} {key}: not a PEM private key") from None
    if not isinstance(private, ec.EllipticCurvePrivateKey) or private.curve.name != "secp256r1":
        raise ConfigError(f"{kflag} {key}: ES256 needs an EC P-256 (secp256r1) key, got {type(private).__name__.lstrip('_')}")
    leaf = certs[0]
    if leaf.public_key() != private.public_key():
        raise ConfigError(f"{kflag} {key} does not belong to the first certificate in {cflag} {cert} (put the signing certificate first)")
    now = _dt.datetime.now(_dt.timezone.utc)
    if leaf.not_valid_after_utc < now:
        raise ConfigError(f"{cflag} {cert}: the certificate expired on {leaf.not_valid_after_utc:%Y-%m-%d}")
    if leaf.not_valid_before_utc > now:
        raise ConfigError(f"{cflag} {cert}: the certificate is not valid before {leaf.not_valid_before_utc:%Y-%m-%d}")
    if leaf.issuer == leaf.subject:
        raise ConfigError(f"{cflag} {cert}: a self-signed certificate cannot sign C2PA manifests; "
                          "use one issued by a CA (chain: leaf first, then the CA certificates)")
    pkcs8 = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption())
    return Credentials(chain, pkcs8, leaf.subject.rfc4514_string())


def _read(path, flag: str) -> bytes:
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{flag} {path}: no such file")
    return p.read_bytes()


def credentials_for_output(cert=None, key=None, out=None, directory: bool = False) -> Credentials | None:
    """``credentials_from`` for a command that writes ``out``: explicit options with an ``--out`` that
    is not a PNG/JPEG (nor, with ``directory``, a directory of PNGs) are an error (the environment
    variables only sign the image outputs)."""
    if (cert is not None or key is not None) and out is not None and Path(out).suffix.lower() not in IMAGE_SUFFIXES \
            and not (directory and Path(out).suffix == ""):
        raise ConfigError(f"--c2pa-cert / --c2pa-key sign PNG or JPEG images; --out {out} is neither")
    return credentials_from(cert, key)


def credentials_from(cert=None, key=None, flags: tuple[str, str] = ("--c2pa-cert", "--c2pa-key")) -> Credentials | None:
    """Credentials from the two options, else from ``GENZOO_C2PA_CERT`` / ``GENZOO_C2PA_KEY``, else None."""
    if cert is None and key is None:
        cert, key = os.environ.get(ENV_CERT) or None, os.environ.get(ENV_KEY) or None
        flags = (ENV_CERT, ENV_KEY)
    if cert is None and key is None:
        return None
    if cert is None or key is None:
        raise ConfigError(f"give both {flags[0]} (certificate chain) and {flags[1]} (private key), or neither")
    return load_credentials(cert, key, flags)


# --- manifests --------------------------------------------------------------------------------
def weights_sha256(run) -> tuple[str, str] | None:
    """(file name, hex SHA-256) of a saved model's weights file, or None when it has none."""
    for name in WEIGHT_FILES:
        p = Path(run) / name
        if p.is_file():
            h = hashlib.sha256()
            with open(p, "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    h.update(block)
            return name, h.hexdigest()
    return None


def model_record(run, model=None) -> dict[str, Any]:
    """What a manifest says about the model: its type, directory name and weights' SHA-256."""
    rec: dict[str, Any] = {"model": Path(run).name}
    if model is not None:
        rec["model_type"] = getattr(model, "model_type", type(model).__name__)
    found = weights_sha256(run)
    if found is not None:
        rec["weights_file"], rec["weights_sha256"] = found
    adapter = Path(run) / "adapter_config.json"
    if adapter.is_file():  # an adapter: the base it was trained on matters as much as its own weights
        base = json.loads(adapter.read_text()).get("base_model_name_or_path")
        found = weights_sha256(base) if base else None
        rec.update(_clean({"base_model": Path(base).name if base else None,
                           "base_weights_sha256": found[1] if found else None}))
    return rec


def _manifest(title: str, actions: list[dict]) -> dict:
    agent = {"name": "genzoo", "version": __version__}
    return {"claim_generator_info": [agent], "title": title,
            "assertions": [{"label": "c2pa.actions", "data": {"actions": actions}}]}


def _clean(params: dict) -> dict:
    return {k: v for k, v in params.items() if v is not None}


def created_manifest(title: str, model: dict | None = None, source_type: str = TRAINED, **params) -> dict:
    """A ``c2pa.created`` manifest (``source_type``: an IPTC digital source type URI); ``params``:
    sampler, steps, seed, ..., ``watermark_key_id`` (an id of the key, never the key); None values are left out."""
    action = {"action": "c2pa.created", "digitalSourceType": source_type,
              "softwareAgent": {"name": "genzoo", "version": __version__},
              "parameters": _clean({**(model or {}), **params})}
    return _manifest(title, [action])


def edited_manifest(title: str, n_ingredients: int, model: dict | None = None, *, composite: bool = False, **params) -> dict:
    """``c2pa.opened`` (the parent ingredient) + ``c2pa.edited`` (all ingredients); ``composite``: the
    result mixes source pixels with generated ones (inpainting), else it is wholly regenerated."""
    ids = [f"source{i}" for i in range(n_ingredients)]
    edited = {"action": "c2pa.edited", "digitalSourceType": COMPOSITE if composite else TRAINED,
              "softwareAgent": {"name": "genzoo", "version": __version__},
              "parameters": {**_clean({**(model or {}), **params}), "ingredientIds": ids}}
    return _manifest(title, [{"action": "c2pa.opened", "parameters": {"ingredientIds": ids[:1]}}, edited])


# --- signing ----------------------------------------------------------------------------------
def sign_file(src, dst, creds: Credentials, manifest: dict, ingredients: list[tuple[str, bytes]] = ()) -> Path:
    """Embed ``manifest`` signed by ``creds`` into a copy of ``src`` written to ``dst`` (may equal ``src``).

    ``ingredients``: (title, file bytes) of source images, in order (the first is the parent). The
    output is written to a temporary sibling and renamed, so a failure leaves ``dst`` as it was.
    """
    c2pa = _c2pa()

    src, dst = Path(src), Path(dst)
    if not src.is_file():
        raise DataError(f"{src}: no such file")
    data = src.read_bytes()
    mime = image_format(data, src)
    tmp = dst.parent / f".{dst.name}.c2pa-tmp"
    try:
        with c2pa.Builder(manifest) as builder:
            for i, (title, blob) in enumerate(ingredients):
                builder.add_ingredient({"title": title, "relationship": "parentOf" if i == 0 else "componentOf",
                                        "label": f"source{i}"}, image_format(blob, title), io.BytesIO(blob))
            with open(tmp, "w+b") as out:
                builder.sign(creds.signer(), mime, io.BytesIO(data), out)
        os.replace(tmp, dst)
    except c2pa.C2paError as e:
        raise ConfigError(f"C2PA signing of {src} failed: {_first_line(e)}") from None
    finally:
        tmp.unlink(missing_ok=True)
    return dst


def sign_output(path, creds: Credentials | None, manifest: dict, ingredients: list[tuple[str, bytes]] = ()) -> None:
    """The hook where genzoo writes an image: sign ``path`` in place when credentials were given."""
    if creds is not None:
        sign_file(path, path, creds, manifest, ingredients)


def sign_sample(path, creds: Credentials | None, run, model, *, seed: int, **kw) -> None:
    """``genzoo sample``'s hook: sign a written PNG/JPEG with a ``c2pa.created`` manifest recording the
    model (name, weights' SHA-256), sampler, steps, seed and the other sampling options in ``kw``."""
    if creds is None or Path(path).suffix.lower() not in IMAGE_SUFFIXES:
        return
    params = generation_params(model, kw.pop("sampler", None), kw.pop("steps", None), seed=seed,
                               guidance_scale=kw.pop("guidance_scale", None), class_labels=kw.pop("class_labels", None))
    kw.pop("compile", None)
    sign_file(path, path, creds, created_manifest(Path(path).name, model_record(run, model), **params, **kw))


def sign_edit(path, creds: Credentials | None, run, model, mode: str, sources, *, source_title: str, **params) -> None:
    """``genzoo edit``'s hook: ``c2pa.opened`` + ``c2pa.edited`` with the inputs as ingredients.

    ``sources``: the input image files (PNG/JPEG kept byte for byte, so their own manifests travel
    along; other formats re-encoded as PNG), or a tensor of inputs in [-1, 1] that have no file
    (dataset examples), stored as one PNG grid titled ``source_title``.
    """
    if creds is None:
        return
    if isinstance(sources, (list, tuple)):
        ingredients = [(Path(p).name, _as_png_or_jpeg(Path(p))) for p in sources]
    else:
        from PIL import Image

        from ..plotting import image_grid

        grid = image_grid(sources.detach().cpu())
        ingredients = [(source_title, encode_png(Image.fromarray(grid[..., 0] if grid.shape[2] == 1 else grid)))]
    manifest = edited_manifest(Path(path).name, len(ingredients), model_record(run, model),
                               composite=mode == "inpaint", mode=mode, **params)
    sign_file(path, path, creds, manifest, ingredients)


def _as_png_or_jpeg(path: Path) -> bytes:
    data = path.read_bytes()
    if any(data.startswith(m) for m in FORMATS):
        return data
    from PIL import Image

    with Image.open(path) as im:
        return encode_png(im)


def encode_png(image) -> bytes:
    """PNG bytes of a PIL image (an in-memory ingredient, e.g. dataset examples that have no file)."""
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def save_signed(image, path, creds: Credentials | None, manifest: dict) -> Path:
    """Save a PIL image (format from the suffix: .png, .jpg) and sign it when ``creds`` is given.

    ``manifest``: e.g. ``created_manifest(name, model_record(dir), **output.provenance)`` for a
    ``DiffusionPipeline`` output (``output.provenance`` holds its sampler, steps and seed).
    """
    path = Path(path)
    image.save(path)
    sign_output(path, creds, manifest)
    return path


# --- verification -----------------------------------------------------------------------------
def verify_file(path, trust_anchors=None) -> dict[str, Any]:
    """Read and validate the C2PA manifest of ``path``: a dict with ``state`` (module docstring),
    ``summary`` (one line), failure codes, signer, actions, ingredients and the active manifest."""
    c2pa = _c2pa()

    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    data = path.read_bytes()
    mime = image_format(data, path)
    context = None
    if trust_anchors is not None:
        anchors = _read(trust_anchors, "--trust-anchors").decode("utf-8", "replace")
        if "-----BEGIN CERTIFICATE-----" not in anchors:
            raise ConfigError(f"--trust-anchors {trust_anchors}: not a PEM certificate file")
        context = c2pa.Context(settings=c2pa.Settings.from_dict({"trust": {"trust_anchors": anchors}}))
    try:
        reader = c2pa.Reader.try_create(mime, io.BytesIO(data), None, context)
    except c2pa.C2paError as e:
        raise DataError(f"{path}: cannot read its C2PA data: {_first_line(e)}") from None
    if reader is None:
        return {"file": str(path), "state": "no manifest", "summary": "no C2PA manifest (never signed, or the "
                "manifest was stripped, e.g. by re-saving the image)", "failures": []}
    with reader:
        state = (reader.get_validation_state() or "Invalid").lower()
        status = json.loads(reader.json()).get("validation_status") or []
        active = reader.get_active_manifest() or {}
    codes = [s["code"] for s in status]
    failures = [c for c in codes if c != UNTRUSTED]
    if state == "invalid" or failures:
        state = "invalid"
        changed = any(c.startswith("assertion.dataHash") or c.startswith("assertion.boxesHash") for c in failures)
        summary = ("INVALID: the image was changed after signing" if changed else "INVALID manifest") + f" ({', '.join(failures)})"
    elif state == "trusted":
        summary = "signed by a trusted certificate; content unchanged since signing"
    else:
        state = "valid"
        summary = "signed by an untrusted certificate (not in the trust anchors); content unchanged since signing"
    sig = active.get("signature_info", {})
    return {"file": str(path), "state": state, "summary": summary, "failures": failures,
            "untrusted": UNTRUSTED in codes, "signer": sig.get("common_name"), "issuer": sig.get("issuer"),
            "alg": sig.get("alg"), "claim_generator": active.get("claim_generator_info", []),
            "actions": _actions(active), "ingredients": [{"title": i.get("title"), "relationship": i.get("relationship"),
                                                          "signed": "active_manifest" in i}
                                                         for i in active.get("ingredients", [])],
            "manifest": active}


def _actions(manifest: dict) -> list[dict]:
    out = []
    for a in manifest.get("assertions", []):
        if a.get("label", "").startswith("c2pa.actions"):
            out.extend(a.get("data", {}).get("actions", []))
    return out


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def describe(result: dict) -> list[str]:
    """Human-readable lines for ``verify_file``'s result (``genzoo provenance verify``)."""
    lines = [f"{result['file']}: {result['summary']}"]
    if result["state"] == "no manifest":
        return lines
    if result.get("signer"):
        lines.append(f"  signer: {result['signer']} (issuer {result['issuer']}, {result['alg']})")
    gens = ", ".join(f"{g.get('name')} {g.get('version', '')}".strip() for g in result["claim_generator"])
    lines.append(f"  claim generator: {gens}")
    for a in result["actions"]:
        params = {k: v for k, v in (a.get("parameters") or {}).items() if k != "ingredients"}
        source = a.get("digitalSourceType", "").rsplit("/", 1)[-1]
        lines.append(f"  action: {a['action']}" + (f" ({source})" if source else "")
                     + "".join(f" {k}={v}" for k, v in sorted(params.items())))
    for i in result["ingredients"]:
        lines.append(f"  ingredient: {i['title']} ({i['relationship']}" + (", signed)" if i["signed"] else ")"))
    return lines


def generation_params(model, sampler=None, steps=None, generator=None, guidance_scale=None, class_labels=None,
                      seed=None) -> dict[str, Any]:
    """The sampling settings a ``c2pa.created`` manifest records: the sampler and steps actually used
    (the model's defaults when not given), the seed (``generator.initial_seed()`` unless given)."""
    cfg = getattr(model, "config", None)
    if seed is None and generator is not None:
        seed = generator.initial_seed()
    labels = class_labels.tolist() if hasattr(class_labels, "tolist") else class_labels
    if steps is None:  # DDPM.make_sampler's rule: an explicit ddpm sampler runs every training step
        steps = getattr(cfg, "num_train_timesteps" if str(sampler).lower() == "ddpm" else "sample_steps", None)
    return _clean({"sampler": sampler or getattr(cfg, "sampler", None), "steps": steps, "seed": seed,
                   "guidance_scale": guidance_scale, "class_labels": labels})
