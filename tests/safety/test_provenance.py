"""C2PA provenance: sign + verify round trips (PNG, JPEG), tampering and stripping detected, bad
certificates and formats as one-line errors, and manifests on genzoo sample / edit / the pipeline."""
from __future__ import annotations

import hashlib
import json
import struct
import zlib

import numpy as np
import pytest
import torch
from PIL import Image

import genzoo as gz
from c2pa_certs import make_pki
from ddpm_helpers import tiny_ddpm_dir
from finetune_helpers import run_cli as cli
from genzoo.safety import provenance as pv


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def ddpm_dir(tmp_path_factory):
    return tiny_ddpm_dir(tmp_path_factory.mktemp("prov"))


def verify(path, capsys, *extra):
    code, out, err = cli(["provenance", "verify", path, "--json", *extra], capsys)
    assert err == "", err
    return code, json.loads(out)


def picture(path, size=24):
    arr = (np.random.RandomState(0).rand(size, size, 3) * 255).astype("uint8")
    Image.fromarray(arr).save(path)
    return path


def sign(src, out, pki, capsys, *extra):
    code, stdout, err = cli(["provenance", "sign", src, "--cert", pki["chain"], "--key", pki["key"], "--out", out, *extra],
                            capsys)
    assert code == 0, err
    return stdout


def change_png_pixel(path):
    """Re-encode the IDAT data with one byte of the first scanline changed; other chunks (caBX) kept."""
    data = path.read_bytes()
    chunks, i = [], 8
    while i < len(data):
        (n,) = struct.unpack(">I", data[i:i + 4])
        chunks.append((data[i + 4:i + 8], data[i + 8:i + 8 + n]))
        i += 12 + n
    raw = bytearray(zlib.decompress(b"".join(d for t, d in chunks if t == b"IDAT")))
    raw[4] ^= 0x40
    out, done = b"\x89PNG\r\n\x1a\n", False
    for t, d in chunks:
        if t == b"IDAT":
            if done:
                continue
            d, done = zlib.compress(bytes(raw)), True
        out += struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
    path.write_bytes(out)


def change_jpeg_pixel(path):
    """Flip one bit of the entropy-coded scan (the decoded pixels change; the APP11 manifest stays)."""
    data = bytearray(path.read_bytes())
    k = data.rfind(b"\xff\xda") + 30
    while data[k] == 0xFF or data[k] ^ 0x10 == 0xFF or data[k - 1] == 0xFF:
        k += 1
    data[k] ^= 0x10
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("suffix", [".png", ".jpg"])
def test_sign_verify_round_trip_and_tampering(pki, tmp_path, capsys, suffix):
    src, out = picture(tmp_path / f"in{suffix}"), tmp_path / f"signed{suffix}"
    assert "CN=genzoo test signer)" in sign(src, out, pki, capsys, "--seed", "5")
    assert np.array_equal(np.asarray(Image.open(out)), np.asarray(Image.open(src)))  # same pixels, manifest added
    code, res = verify(out, capsys)
    assert code == 0 and res["state"] == "valid" and res["untrusted"] and res["failures"] == []
    assert "untrusted certificate" in res["summary"]
    assert res["claim_generator"][0]["name"] == "genzoo" and res["claim_generator"][0]["version"] == gz.__version__
    (action,) = res["actions"]
    assert action["action"] == "c2pa.created" and action["digitalSourceType"] == pv.TRAINED
    assert action["parameters"]["seed"] == 5
    code, res = verify(out, capsys, "--trust-anchors", pki["ca"])
    assert code == 0 and res["state"] == "trusted"

    code, text, _ = cli(["provenance", "verify", out], capsys)
    assert code == 0 and "untrusted certificate" in text and "c2pa.created (trainedAlgorithmicMedia)" in text

    before = np.asarray(Image.open(out)).copy()
    (change_png_pixel if suffix == ".png" else change_jpeg_pixel)(out)
    assert not np.array_equal(np.asarray(Image.open(out)), before)  # the pixels did change
    code, res = verify(out, capsys)
    assert code == 1 and res["state"] == "invalid" and "assertion.dataHash.mismatch" in res["failures"]
    assert "changed after signing" in res["summary"]


def test_stripped_or_missing_manifest_is_reported(pki, tmp_path, capsys):
    signed = tmp_path / "signed.png"
    sign(picture(tmp_path / "in.png"), signed, pki, capsys)
    stripped = tmp_path / "stripped.png"
    Image.open(signed).save(stripped)  # re-saving drops the caBX chunk
    for path in (stripped, tmp_path / "in.png"):
        code, res = verify(path, capsys)
        assert code == 1 and res["state"] == "no manifest" and "stripped" in res["summary"]
    code, text, err = cli(["provenance", "verify", stripped], capsys)
    assert code == 1 and "no C2PA manifest" in text and err == ""


def test_bad_inputs_are_one_line_errors(pki, tmp_path, capsys):
    src = picture(tmp_path / "in.png")
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    expired = make_pki(tmp_path / "old", leaf_days=-1)
    gif = tmp_path / "in.gif"
    Image.new("RGB", (8, 8)).save(gif)
    cases = [
        (["--cert", tmp_path / "nope.pem", "--key", pki["key"]], "no such file"),
        (["--cert", garbage, "--key", pki["key"]], "not a PEM certificate chain"),
        (["--cert", pki["chain"], "--key", garbage], "not a PEM private key"),
        (["--cert", pki["chain"], "--key", pki["other_key"]], "does not belong"),
        (["--cert", pki["chain"], "--key", pki["rsa_key"]], "EC P-256"),
        (["--cert", pki["self_signed"], "--key", pki["key"]], "self-signed"),
        (["--cert", expired["chain"], "--key", expired["key"]], "expired"),
    ]
    for flags, msg in cases:
        out = tmp_path / "o.png"
        code, _, err = cli(["provenance", "sign", src, *flags, "--out", out], capsys)
        assert code == 2 and err.startswith("error:") and msg in err and err.count("\n") == 1, (flags, err)
        assert not out.exists()
    creds = ["--cert", pki["chain"], "--key", pki["key"]]
    code, _, err = cli(["provenance", "sign", gif, *creds, "--out", tmp_path / "o.gif"], capsys)
    assert code == 2 and "unsupported image format" in err and err.count("\n") == 1
    code, _, err = cli(["provenance", "verify", gif], capsys)
    assert code == 2 and "unsupported image format" in err
    code, _, err = cli(["provenance", "verify", tmp_path / "missing.png"], capsys)
    assert code == 2 and "no such file" in err
    keep = tmp_path / "keep.png"
    keep.write_bytes(b"precious")
    code, _, err = cli(["provenance", "sign", src, *creds, "--out", keep], capsys)
    assert code == 2 and "--overwrite" in err and keep.read_bytes() == b"precious"
    sign(src, tmp_path / "s.png", pki, capsys)
    code, _, err = cli(["provenance", "sign", tmp_path / "s.png", *creds, "--out", tmp_path / "s2.png"], capsys)
    assert code == 2 and "already carries a C2PA manifest" in err


def test_sample_writes_a_created_manifest(ddpm_dir, pki, tmp_path, capsys, monkeypatch):
    out = tmp_path / "s.png"
    code, _, err = cli(["sample", ddpm_dir, "-n", "2", "--seed", "7", "--sampler", "ddim", "--steps", "3", "--out", out,
                        "--c2pa-cert", pki["chain"], "--c2pa-key", pki["key"]], capsys)
    assert code == 0, err
    code, res = verify(out, capsys)
    assert code == 0 and res["state"] == "valid"
    (action,) = res["actions"]
    p = action["parameters"]
    assert action["action"] == "c2pa.created" and action["digitalSourceType"] == pv.TRAINED
    assert (p["seed"], p["sampler"], p["steps"], p["n"], p["model_type"]) == (7, "ddim", 3, 2, "ddpm")
    assert p["weights_sha256"] == hashlib.sha256((ddpm_dir / "model.safetensors").read_bytes()).hexdigest()

    monkeypatch.setenv(pv.ENV_CERT, str(pki["chain"]))  # the environment variables sign too (model defaults recorded)
    monkeypatch.setenv(pv.ENV_KEY, str(pki["key"]))
    code, _, err = cli(["sample", ddpm_dir, "-n", "1", "--out", tmp_path / "e.jpg"], capsys)
    assert code == 0, err
    p = verify(tmp_path / "e.jpg", capsys)[1]["actions"][0]["parameters"]
    assert (p["seed"], p["sampler"], p["steps"]) == (0, "dpm++2m", 4)
    monkeypatch.delenv(pv.ENV_KEY)
    code, _, err = cli(["sample", ddpm_dir, "-n", "1", "--out", tmp_path / "f.png"], capsys)
    assert code == 2 and "GENZOO_C2PA_KEY" in err
    code, _, err = cli(["sample", ddpm_dir, "-n", "1", "--out", tmp_path / "raw.safetensors",
                        "--c2pa-cert", pki["chain"], "--c2pa-key", pki["key"]], capsys)
    assert code == 2 and "PNG or JPEG" in err


def test_edit_writes_an_edited_manifest_with_the_source_as_ingredient(ddpm_dir, pki, tmp_path, capsys):
    src = tmp_path / "src.png"
    code, _, err = cli(["sample", ddpm_dir, "-n", "1", "--out", src, "--c2pa-cert", pki["chain"], "--c2pa-key", pki["key"]],
                       capsys)
    assert code == 0, err
    out = tmp_path / "edited.png"
    code, _, err = cli(["edit", ddpm_dir, "--mode", "img2img", "--image", src, "--strength", "0.5", "--seed", "3",
                        "--out", out, "--c2pa-cert", pki["chain"], "--c2pa-key", pki["key"]], capsys)
    assert code == 0, err
    code, res = verify(out, capsys)
    assert code == 0 and res["state"] == "valid"
    actions = {a["action"]: a for a in res["actions"]}
    assert "c2pa.opened" in actions and actions["c2pa.edited"]["parameters"]["mode"] == "img2img"
    assert actions["c2pa.edited"]["parameters"]["seed"] == 3 and actions["c2pa.edited"]["parameters"]["strength"] == 0.5
    assert res["ingredients"] == [{"title": "src.png", "relationship": "parentOf", "signed": True}]

    out = tmp_path / "inpaint.png"  # dataset inputs have no file: they travel as one PNG ingredient
    code, _, err = cli(["edit", ddpm_dir, "--mode", "inpaint", "--data", "digits", "--index", "0,1", "--out", out,
                        "--c2pa-cert", pki["chain"], "--c2pa-key", pki["key"]], capsys)
    assert code == 0, err
    res = verify(out, capsys)[1]
    edited = [a for a in res["actions"] if a["action"] == "c2pa.edited"][0]
    assert edited["digitalSourceType"] == pv.COMPOSITE
    assert res["ingredients"] == [{"title": "digits test examples 0,1", "relationship": "parentOf", "signed": False}]


def test_pipeline_output_records_its_generation(ddpm_dir, pki, tmp_path, capsys):
    from genzoo.pipelines import DiffusionPipeline

    pipe = DiffusionPipeline.from_pretrained(ddpm_dir)
    output = pipe(batch_size=1, num_inference_steps=2, generator=torch.Generator().manual_seed(11))
    assert output.provenance == {"sampler": "dpm++2m", "steps": 2, "seed": 11}
    creds = pv.load_credentials(pki["chain"], pki["key"])
    path = pv.save_signed(output.images[0], tmp_path / "p.png", creds,
                          pv.created_manifest("p.png", pv.model_record(ddpm_dir, pipe.model), **output.provenance))
    p = verify(path, capsys)[1]["actions"][0]["parameters"]
    assert (p["seed"], p["steps"], p["model"]) == (11, 2, "ddpm")


def test_watermarked_samples_in_a_directory_are_each_signed_with_the_key_id(ddpm_dir, pki, tmp_path, capsys):
    from genzoo.safety.tree_ring import TreeRingKey

    out = tmp_path / "wm"
    code, _, err = cli(["sample", ddpm_dir, "-n", "2", "--steps", "3", "--watermark-key", "12345", "--watermark-radius", "2",
                        "--out", out, "--c2pa-cert", pki["chain"], "--c2pa-key", pki["key"]], capsys)
    assert code == 0, err
    key_id = TreeRingKey(12345, 2).key_id
    assert key_id != TreeRingKey(12346, 2).key_id and "12345" not in key_id
    for i in range(2):
        code, res = verify(out / f"{i:06d}.png", capsys)
        assert code == 0 and res["state"] == "valid"
        p = res["actions"][0]["parameters"]
        assert (p["watermark_key_id"], p["index"], p["n"]) == (key_id, i, 2)
        assert "12345" not in json.dumps(res)
