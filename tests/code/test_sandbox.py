"""The sandbox contains what generated code may do: each case is killed or fails, the machine is unharmed."""
import os
import subprocess
import time
from pathlib import Path

import pytest

from genzoo.code import Limits, isolated, run_program, run_programs

FAST = Limits(timeout=1.5, memory_mb=512)


def test_passing_and_failing_programs():
    ok = run_program("print('hello')", FAST)
    assert ok.passed and ok.returncode == 0 and ok.stdout.strip() == "hello"
    bad = run_program("assert 1 == 2", FAST)
    assert bad.status == "failed" and "AssertionError" in bad.stderr


def test_infinite_loop_is_killed_at_the_timeout():
    r = run_program("while True:\n    pass", FAST)
    assert r.status == "timed out" and r.seconds < 5


def test_memory_hog_fails():
    r = run_program("x = bytearray(2 << 30)", FAST)
    assert r.status == "failed" and "MemoryError" in r.stderr


def test_fork_bomb_is_contained_and_leaves_no_process():
    src = "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n"
    r = run_program(src, Limits(timeout=1.0, memory_mb=512))
    assert not r.passed
    for _ in range(50):  # killed children are reaped by init a moment later
        left = subprocess.run(["pgrep", "-f", "genzoo-sandbox-.*program.py"], capture_output=True, text=True).stdout.split()
        if not left:
            break
        time.sleep(0.1)
    assert not left, f"processes left behind: {left}"


def test_output_flood_is_cut_at_the_file_size_limit():
    r = run_program("import sys\nwhile True:\n    sys.stdout.write('x' * 100000)", Limits(timeout=3, file_mb=1))
    assert r.status == "failed" and "File too large" in r.stderr and len(r.stdout) <= 2000


def test_closing_stdout_and_killing_its_own_group_do_not_reach_us():
    assert run_program("import os\nos.close(1)\nos.close(2)", FAST).passed
    r = run_program("import os, signal\nos.killpg(os.getpgid(0), signal.SIGKILL)", FAST)
    assert r.status == "killed"  # only its own session died; this test process is alive to check


def test_environment_is_not_inherited(monkeypatch):
    monkeypatch.setenv("GENZOO_SECRET_TOKEN", "hunter2")
    r = run_program("import os\nprint(sorted(os.environ))", FAST)
    assert "GENZOO_SECRET_TOKEN" not in r.stdout and "hunter2" not in r.stdout


@pytest.mark.skipif(not isolated(), reason="this kernel has no unprivileged user namespaces (docs/code.md)")
def test_no_network_and_no_writes_outside_the_work_directory(tmp_path):
    target = tmp_path / "written-by-sandbox"
    r = run_program(f"open({str(target)!r}, 'w').write('x')", FAST)
    assert r.status == "failed" and "Read-only file system" in r.stderr and not target.exists()
    assert run_program("open('scratch.txt', 'w').write('x')", FAST).passed  # its own directory is writable
    net = run_program("import socket\nsocket.create_connection(('10.255.255.1', 80), timeout=1)", FAST)
    assert net.status == "failed" and "unreachable" in net.stderr.lower()


def test_parallel_results_keep_input_order():
    sources = [f"import time, sys\ntime.sleep({0.3 if i % 2 else 0})\nsys.exit({i % 3 != 0})" for i in range(8)]
    serial = [r.status for r in run_programs(sources, FAST, workers=1)]
    parallel = [r.status for r in run_programs(sources, FAST, workers=4)]
    assert parallel == serial == ["passed" if i % 3 == 0 else "failed" for i in range(8)]


def test_work_directory_is_removed():
    r = run_program("import os\nprint(os.getcwd())", FAST)
    assert r.passed and not Path(r.stdout.strip()).exists() and os.path.basename(r.stdout.strip()).startswith("genzoo-sandbox-")
