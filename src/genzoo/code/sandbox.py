"""Run untrusted programs (generated code) and report what happened, one subprocess each.

Each program runs as ``python -I`` (no user site, no PYTHON* variables) in a fresh temporary
working directory with

- a wall-clock timeout (the whole process group is killed) and an equal CPU-time limit,
- an address-space limit (memory), a file-size limit (stdout/stderr go to files in the work
  directory, so a program that prints megabytes is stopped at the limit), a process limit (fork
  bombs fail to fork), no core dumps,
- its own session (killing "its parent's process group" kills only itself),
- an environment with nothing inherited (``PATH``, ``HOME``/``TMPDIR`` = the work directory,
  ``LANG``, ``PYTHONHASHSEED=0``): no secrets, no proxies,
- no network and a read-only file system outside its work directory: new user, network and
  mount namespaces (only loopback; every mount remounted read-only) where the kernel allows
  unprivileged namespaces (``isolated()`` says whether it does; otherwise the program has the
  machine's network and files, with a warning on its stderr; docs/code.md).

``run_programs`` runs many in parallel worker threads; results come back in input order, so
they never depend on which worker finished first.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

LAUNCHER = Path(__file__).with_name("_launch.py")
OUTPUT_TAIL = 2000  # characters of stdout/stderr kept in a result


@dataclass(frozen=True)
class Limits:
    timeout: float = 5.0        # wall-clock seconds
    memory_mb: int = 1024       # address space
    file_mb: int = 16           # largest file (and stdout/stderr) a program may write
    processes: int = 4          # RLIMIT_NPROC: a fork bomb stops at a handful of processes
    network: bool = False       # True: no namespaces (the machine's network and file system)


@dataclass
class RunResult:
    status: str          # "passed" | "failed" | "timed out" | "killed"
    returncode: int | None
    seconds: float
    stdout: str
    stderr: str

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    def to_dict(self) -> dict:
        return asdict(self)


def _tail(path: Path) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - OUTPUT_TAIL))
            return f.read().decode("utf-8", errors="replace")
    except OSError:
        return ""


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def run_program(source: str, limits: Limits = Limits()) -> RunResult:
    """Run ``source`` under ``limits``; "passed" means exit status 0 within the time limit."""
    with tempfile.TemporaryDirectory(prefix="genzoo-sandbox-") as work:
        work_dir = Path(work)
        program = work_dir / "program.py"
        program.write_text(source, encoding="utf-8")
        env = {"PATH": "/usr/bin:/bin", "HOME": work, "TMPDIR": work, "LANG": "C.UTF-8", "PYTHONHASHSEED": "0"}
        cmd = [sys.executable, "-I", "-B", str(LAUNCHER), str(int(limits.timeout) + 1), str(limits.memory_mb),
               str(limits.file_mb), str(limits.processes), "0" if limits.network else "1", work, str(program)]
        start = time.perf_counter()
        with open(work_dir / "stdout", "wb") as out, open(work_dir / "stderr", "wb") as err:
            proc = subprocess.Popen(cmd, cwd=work, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                    start_new_session=True, close_fds=True)
            try:
                code = proc.wait(timeout=limits.timeout)
                status = "passed" if code == 0 else "killed" if code < 0 else "failed"
            except subprocess.TimeoutExpired:
                code, status = None, "timed out"
            finally:
                _kill_group(proc)  # also whatever it left running in its session
                proc.wait()
        seconds = time.perf_counter() - start
        return RunResult(status, code, seconds, _tail(work_dir / "stdout"), _tail(work_dir / "stderr"))


def run_programs(sources: list[str], limits: Limits = Limits(), workers: int | None = None) -> list[RunResult]:
    """``run_program`` for each source on ``workers`` threads (default: the CPU count); input order kept."""
    workers = max(1, workers or os.cpu_count() or 1)
    if workers == 1 or len(sources) <= 1:
        return [run_program(s, limits) for s in sources]
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(lambda s: run_program(s, limits), sources))


ISOLATION_PROBE = f"""
import os, socket, sys
try:
    open({str(Path(__file__))!r} + ".probe", "w")
    sys.exit(2)  # wrote outside the work directory
except OSError:
    pass
open("inside", "w").write("ok")
sys.exit(0 if [n for _, n in socket.if_nameindex()] == ["lo"] else 1)
"""


def isolated() -> bool:
    """Whether programs here run without network and cannot write outside their work directory."""
    return run_program(ISOLATION_PROBE, Limits(timeout=10)).passed
