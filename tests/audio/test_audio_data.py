"""notes / melodies / wav:DIR: deterministic synthesis, the labels mean what they say, WAV round trips and
one-line errors for bad files."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import genzoo as gz
from genzoo.data.audio import pitch_timbre
from genzoo.data.notes import INSTRUMENTS, MIDI, SCALE, adsr, make_melodies, make_notes, midi_to_hz
from genzoo.data.wav import read_wav, write_wav
from genzoo.errors import ConfigError, DataError

sf = pytest.importorskip("soundfile")


def dominant_hz(x: np.ndarray, rate: int) -> float:
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x)), n=8 * len(x)))
    return float(np.fft.rfftfreq(8 * len(x), 1 / rate)[spec.argmax()])


def test_notes_are_deterministic_and_labelled():
    a, b = make_notes(16, 0, 8000, 2000), make_notes(16, 0, 8000, 2000)
    assert torch.equal(a["x"], b["x"]) and not torch.equal(a["x"], make_notes(16, 1, 8000, 2000)["x"])
    assert a["x"].shape == (16, 1, 2000) and a["x"].abs().max() <= 1
    assert torch.equal(a["x"] * 32767, (a["x"] * 32767).round())  # 16-bit PCM values
    data = gz.load_dataset("notes", split="test")
    assert data.kind == "audio" and data.shape == (1, 2000) and data.num_classes == len(MIDI) * len(INSTRUMENTS)
    pitch, timbre = pitch_timbre(data.y)
    assert torch.equal(data.y, pitch * 4 + timbre) and len(data.info["loudness"]) == len(data)
    assert data.info["classes"][int(data.y[0])].startswith(("C", "D", "E", "F", "G", "A", "B"))


def test_pitch_label_is_the_fundamental():
    """The flute's strongest partial is the fundamental: its FFT peak is the labelled MIDI pitch ± 15 cents."""
    data = gz.load_dataset("notes", split="test")
    pitch, timbre = pitch_timbre(data.y)
    for i in (timbre == 0).nonzero().squeeze(1)[:6].tolist():
        hz = dominant_hz(data.x[i, 0].numpy(), 8000)
        cents = 1200 * np.log2(hz / float(midi_to_hz(MIDI[pitch[i]])))
        assert abs(cents) < 20, (i, hz, cents)


def test_loudness_orders_the_energy():
    d = make_notes(300, 3, 8000, 2000)
    rms = d["x"].square().mean((1, 2)).sqrt()
    means = [rms[d["loudness"] == k].mean() for k in range(3)]
    assert means[0] < means[1] < means[2]


def test_adsr_shape():
    env = adsr(1000, 1000, 0.1, 0.1, 0.5, 0.1)
    assert env[0] == 0 and env[100] == pytest.approx(1.0) and env[500] == pytest.approx(0.5) and env[-1] < 0.02


def test_melodies_follow_the_grammar():
    d = make_melodies(64, 0, 8000, 500)
    deg = torch.tensor([[SCALE.index(m) for m in row] for row in d["midi"].tolist()])
    assert set(deg[:, 0].tolist()) <= {0, 2, 4}
    assert ((deg[:, 1:-1] - deg[:, :-2]).abs() <= 2).all()  # steps of at most two degrees (the last note is pulled to the triad)
    assert set(deg[:, -1].tolist()) <= {0, 2, 4, 7}
    assert d["x"].shape == (64, 1, 2000)
    assert gz.load_dataset("melodies", split="test").shape == (1, 4000)


def test_class_subset_keeps_loudness_aligned():
    full, sub = gz.load_dataset("notes", split="test"), gz.load_dataset("notes[0,1]", split="test")
    mask = (full.y == 0) | (full.y == 1)
    assert torch.equal(sub.x, full.x[mask]) and torch.equal(sub.info["loudness"], full.info["loudness"][mask])


def test_wav_round_trip_and_joining(tmp_path):
    x = make_notes(3, 0, 8000, 800)["x"]
    write_wav(tmp_path / "one.wav", x[0], 8000)
    assert torch.allclose(read_wav(tmp_path / "one.wav", 8000, 800), x[0, 0], atol=1 / 32767)
    write_wav(tmp_path / "three.wav", x, 8000, gap=0.1)
    joined, rate = sf.read(str(tmp_path / "three.wav"))
    assert rate == 8000 and len(joined) == 3 * 800 + 2 * 800  # 0.1 s gaps of 800 samples
    assert np.allclose(joined[800 + 800:800 + 800 + 800], x[1, 0].numpy(), atol=1 / 32767)


def test_wrong_rate_is_resampled_with_a_warning(tmp_path):
    t = np.arange(16000 // 4) / 16000
    sf.write(str(tmp_path / "a.wav"), 0.5 * np.sin(2 * np.pi * 440 * t), 16000)
    with pytest.warns(UserWarning, match="16000 Hz resampled to 8000 Hz"):
        x = read_wav(tmp_path / "a.wav", 8000, 2000)
    assert abs(dominant_hz(x.numpy(), 8000) - 440) < 5
    with pytest.raises(DataError, match="sample rate 16000 Hz, expected 8000 Hz"):
        read_wav(tmp_path / "a.wav", 8000, resample_ok=False)


def test_bad_files_are_one_line_errors(tmp_path):
    (tmp_path / "fake.wav").write_text("not audio at all")
    with pytest.raises(DataError, match="not a WAV file"):
        read_wav(tmp_path / "fake.wav")
    sf.write(str(tmp_path / "a.flac"), np.zeros(100), 8000)
    with pytest.raises(DataError, match="FLAC file, not WAV"):
        read_wav(tmp_path / "a.flac")
    sf.write(str(tmp_path / "short.wav"), np.zeros(100), 8000)
    with pytest.raises(DataError, match="100 samples .* expected 2000 samples"):
        read_wav(tmp_path / "short.wav", 8000, 2000)
    with pytest.raises(ConfigError, match=".wav"):
        write_wav(tmp_path / "x.mp3", torch.zeros(10), 8000)
    with pytest.raises(ConfigError, match="sample_rate=12345"):
        gz.load_dataset("notes", sample_rate=12345)


def test_wav_folder_dataset(tmp_path, capsys):
    for i in range(5):
        write_wav(tmp_path / f"{i}.wav", torch.full((2000,), 0.1 * i), 8000)
    train, test = gz.load_dataset(f"wav:{tmp_path}"), gz.load_dataset(f"wav:{tmp_path}", split="test")
    assert train.kind == "audio" and len(train) == 4 and len(test) == 1 and train.shape == (1, 2000)
    sf.write(str(tmp_path / "bad.wav"), np.zeros(300), 8000)
    from cli_run import run_cli

    code, _, err = run_cli(["train", "gaussian", "--data", f"wav:{tmp_path}", "--steps", "1"], capsys)
    assert code == 2 and err.count("\n") == 1 and "bad.wav: 300 samples" in err
