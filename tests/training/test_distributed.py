"""Data-parallel training (issue 32): 2 gloo ranks on this machine follow the 1-process run with the
same global batch (GPT, DDPM, EBM with its replay buffer, GAN); SIGKILL + resume under torchrun continues exactly; two torchrun "nodes" on
localhost train together; bad input fails in one line without leaving a rank hanging."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import genzoo as gz
from ddp_worker import FSDP_RUNS, RUNS, train, train_until_killed
from genzoo.errors import ConfigError
from genzoo.nn.batch_noise import sharded
from genzoo.training.distributed import local_batch_size

WORKER = str(Path(__file__).with_name("ddp_worker.py"))
PY = sys.executable
GPT_ARGS = ["train", "gpt", "--data", "pystdlib", "--steps", "5", "--batch-size", "8", "--lr", "1e-3", "--set", "n_layer=1",
            "--set", "n_embd=32", "--set", "n_head=2", "--data-arg", "block_size=32", "--no-progress", "--sample-every", "0"]


def _env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT", "LOCAL_RANK")}
    src = str(Path(gz.__file__).parents[1])
    return {**env, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join([src, env.get("PYTHONPATH", "")]), **extra}


def _run(cmd: list[str], timeout: float = 240, **env) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=_env(**env))


def _torchrun(*args: str, nproc: int = 2) -> list[str]:
    return [PY, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}", *args]


def _max_diff(a: Path, b: Path) -> float:
    x, y = load_file(a / "model.safetensors"), load_file(b / "model.safetensors")
    assert x.keys() == y.keys()
    return max(float((x[k].double() - y[k].double()).abs().max()) for k in x if x[k].numel())


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def one_process(tmp_path_factory) -> Path:
    """The 1-process runs of GPT, DDPM and GAN (global batch as in RUNS)."""
    out = tmp_path_factory.mktemp("one")
    for name in RUNS:
        train(name, out)
    return out


def test_two_ranks_follow_one_process_gpt_ddpm_ebm_gan(one_process, tmp_path):
    r = _run(_torchrun(WORKER, str(tmp_path)))
    assert r.returncode == 0, r.stderr[-3000:]
    for name in RUNS:
        assert _max_diff(one_process / name, tmp_path / name) <= 1e-5, name
        lines = (tmp_path / name / "metrics.jsonl").read_text().splitlines()
        assert len(lines) == len((one_process / name / "metrics.jsonl").read_text().splitlines())  # rank 0 alone logs
    assert '"world_size": 2' in (tmp_path / "gpt" / "run.json").read_text()


@pytest.mark.parametrize("family", ["gpt", "ddpm", "gan", "vae", "flow-matching"])
def test_sharded_noise_gives_the_global_batch_gradient_float64(family):
    """Rank r's loss on its rows, with the noise of ``sharded(r, 2)``, averages to the full batch's
    gradient: the same draws reach the same examples (float64, so only rounding is left; the GPT's
    cross-entropy runs in float32, hence rtol 1e-7 rather than ~1e-15)."""
    data = {"gpt": gz.load_dataset("pystdlib", block_size=16), "ddpm": gz.load_dataset("digits"),
            "gan": gz.load_dataset("moons"), "vae": gz.load_dataset("digits"), "flow-matching": gz.load_dataset("moons")}[family]
    small = {"gpt": dict(n_layer=1, n_embd=16, n_head=2), "ddpm": dict(block_out_channels=(8, 8), attention_levels=(1,),
             norm_num_groups=4, attention_head_dim=4), "gan": dict(n_generators=3, hidden=16, diffaug="", mbstd=False)}.get(family, {})
    torch.manual_seed(0)
    model = gz.build(family, data, **small).double()
    batch = data.batch(torch.arange(8))
    batch = tuple(t.double() if t.is_floating_point() else t for t in batch) if isinstance(batch, tuple) else (
        batch.double() if batch.is_floating_point() else batch)
    rows = lambda a, b: tuple(t[a:b] for t in batch) if isinstance(batch, tuple) else batch[a:b]  # noqa: E731
    loss = (lambda b: model.discriminator_loss(*((b,) if not isinstance(b, tuple) else b[:1]))[0]) if family == "gan" \
        else (lambda b: model.loss(b)["loss"])

    def gradient(shards: int) -> list[torch.Tensor]:
        model.zero_grad()
        torch.set_default_dtype(torch.float64)  # the GAN's latents
        for r in range(shards):
            torch.manual_seed(1)
            with sharded(r, shards):
                (loss(rows(r * 8 // shards, (r + 1) * 8 // shards)) / shards).backward()
        torch.set_default_dtype(torch.float32)
        return [p.grad.clone() for p in model.parameters() if p.grad is not None]

    one, two = gradient(1), gradient(2)
    assert one and len(one) == len(two)
    for a, b in zip(one, two):
        torch.testing.assert_close(a, b, rtol=1e-7, atol=1e-9)


def test_sigkill_one_rank_then_resume_continues_exactly(tmp_path):
    """The GAN (its own optimizer steps, all-reduced): killed after step 5, resumed from step 4."""
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    r = _run(_torchrun(WORKER, str(whole), "kill", "gan", "0"))
    assert r.returncode == 0, r.stderr[-3000:]
    r = _run(_torchrun(WORKER, str(killed), "kill", "gan", "5"))
    assert r.returncode != 0 and not (killed / "model.safetensors").exists()
    assert (killed / "checkpoint").is_dir()
    r = _run(_torchrun(WORKER, str(killed), "kill", "gan", "0", "resume"))
    assert r.returncode == 0, r.stderr[-3000:]
    assert _max_diff(whole, killed) == 0.0


def test_fsdp_follows_one_process_and_saves_the_ordinary_layout(one_process, tmp_path):
    r = _run(_torchrun(WORKER, str(tmp_path), "fsdp"))
    assert r.returncode == 0, r.stderr[-3000:]
    for name in FSDP_RUNS:
        assert _max_diff(one_process / name, tmp_path / name) <= 1e-5, name
        for part in ("model", "ema", "optimizer"):  # whole tensors, the keys of a one-process checkpoint
            ours, ref = (load_file(d / name / "checkpoint" / f"{part}.safetensors") for d in (tmp_path, one_process))
            assert ours.keys() == ref.keys() and all(ours[k].shape == ref[k].shape for k in ref), (name, part)
        assert isinstance(gz.load(tmp_path / name), gz.GenerativeModel)


def test_fsdp_killed_and_resumed_matches_one_process(tmp_path):
    """A sharded GPT run killed after step 5 and resumed from rank 0's single-file checkpoint (split
    again over the ranks) ends where the one-process run of the same settings ends."""
    train_until_killed("gpt", tmp_path / "one", kill_at=0, resume=False)
    killed = tmp_path / "killed"
    r = _run(_torchrun(WORKER, str(killed), "kill", "gpt", "5", "fsdp"))
    assert r.returncode != 0 and (killed / "checkpoint").is_dir()
    r = _run(_torchrun(WORKER, str(killed), "kill", "gpt", "0", "resume", "fsdp"))
    assert r.returncode == 0, r.stderr[-3000:]
    assert _max_diff(tmp_path / "one", killed) <= 1e-5


def test_fsdp_needs_ranks_and_the_loss_path():
    data = gz.load_dataset("moons")
    with pytest.raises(ConfigError, match="--nproc N or torchrun"):
        gz.Trainer(gz.build("gaussian", data), data, steps=1, fsdp=True)


def test_two_nodes_on_localhost_train_together(one_process, tmp_path):
    port, out = _free_port(), tmp_path / "gpt"
    cmd = [PY, "-m", "torch.distributed.run", "--nnodes=2", "--nproc-per-node=1", "--rdzv-backend=c10d",
           f"--rdzv-endpoint=127.0.0.1:{port}", "--rdzv-id=genzoo-test", "-m", "genzoo", *GPT_ARGS, "--out", str(out)]
    nodes = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env()) for _ in range(2)]
    outputs = [n.communicate(timeout=240) for n in nodes]
    assert [n.returncode for n in nodes] == [0, 0], outputs[0][1][-2000:] + outputs[1][1][-2000:]
    assert sum(o[0].count("saved to") for o in outputs) == 1  # rank 0 reports, once
    assert _max_diff(one_process / "gpt", out) <= 1e-5


def test_nproc_shortcut_runs_torchrun(one_process, tmp_path):
    r = _run([PY, "-m", "genzoo", *GPT_ARGS, "--out", str(tmp_path / "gpt"), "--nproc", "2"])
    assert r.returncode == 0, r.stderr[-3000:]
    assert _max_diff(one_process / "gpt", tmp_path / "gpt") <= 1e-5


def test_batch_that_does_not_split_over_ranks():
    with pytest.raises(ConfigError, match="use 6 or 8"):
        local_batch_size(7, 2)
    r = _run([PY, "-m", "genzoo", *GPT_ARGS, "--batch-size", "7", "--nproc", "2", "--out", "/nonexistent/x"])
    assert r.returncode == 2 and r.stderr.strip() == (
        "error: --batch-size 7 (the global batch) does not split over 2 processes; use 6 or 8")


def test_ranks_with_different_settings_fail_in_one_line(tmp_path):
    port = _free_port()
    base = [PY, "-m", "torch.distributed.run", "--nnodes=2", "--nproc-per-node=1", "--rdzv-backend=c10d",
            f"--rdzv-endpoint=127.0.0.1:{port}", "--rdzv-id=genzoo-mismatch", "-m", "genzoo", *GPT_ARGS,
            "--out", str(tmp_path / "run")]
    nodes = [subprocess.Popen([*base, "--seed", str(seed)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=_env()) for seed in (0, 1)]
    errors = [n.communicate(timeout=240)[1] for n in nodes]
    assert all(n.returncode != 0 for n in nodes)
    assert any("run with a different genzoo version and run settings than rank 0" in e for e in errors), errors[0][-2000:]


def test_rendezvous_that_never_completes_times_out_with_a_message(tmp_path):
    t0 = time.perf_counter()
    r = _run([PY, "-m", "genzoo", *GPT_ARGS, "--out", str(tmp_path / "run")], timeout=120, RANK="1", WORLD_SIZE="2",
             LOCAL_RANK="0", MASTER_ADDR="127.0.0.1", MASTER_PORT=str(_free_port()), GENZOO_DIST_TIMEOUT="3")
    assert r.returncode == 2, r.stderr[-2000:]
    assert r.stderr.strip().startswith("error (rank 1): rank 1 could not join the process group at 127.0.0.1:")
    assert len(r.stderr.strip().splitlines()) == 1 and time.perf_counter() - t0 < 60


def test_dp_sgd_under_ranks_is_refused_in_one_line(tmp_path):
    r = _run([PY, "-m", "genzoo", *GPT_ARGS, "--out", str(tmp_path / "run"), "--nproc", "2", "--dp-epsilon", "8"])
    assert r.returncode == 2, r.stderr[-2000:]
    assert "error (rank 0): DP-SGD runs in one process" in r.stderr and "Traceback" not in r.stderr


def test_the_process_group_is_left_at_exit():
    """A gloo group still alive at interpreter teardown can abort the process after a good run
    ("terminate called without an active exception", pytorch/pytorch#190489): init_from_env leaves it
    from an atexit handler."""
    code = ("import atexit, torch.distributed as dist; from genzoo.training.distributed import init_from_env; "
            "w = init_from_env(); assert dist.is_initialized() and w.size == 2; atexit._run_exitfuncs(); "
            "assert not dist.is_initialized(); print('left')")
    env = _env(WORLD_SIZE="2", MASTER_ADDR="127.0.0.1", MASTER_PORT=str(_free_port()))
    ranks = [subprocess.Popen([PY, "-c", code], env={**env, "RANK": str(r), "LOCAL_RANK": str(r)}, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for r in (0, 1)]
    for p in ranks:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0 and out.strip() == "left", err[-2000:]
