"""Sandbox child: apply the limits to this process, then exec the program (run by path with ``python -I``).

    python -I _launch.py CPU_S MEMORY_MB FSIZE_MB NPROC ISOLATE WORK_DIR PROGRAM.py

Runs in a fresh session (the parent starts it with ``start_new_session``); limits are set here
rather than in a ``preexec_fn`` so that the parent may start many children from worker threads.
``ISOLATE=1`` moves the process into new user, network and mount namespaces where the kernel allows
unprivileged namespaces: only a loopback interface, and every mount read-only except WORK_DIR.
"""
import ctypes
import os
import resource
import sys

CLONE_NEWUSER, CLONE_NEWNET, CLONE_NEWNS = 0x10000000, 0x40000000, 0x00020000
MS_RDONLY, MS_BIND, MS_REMOUNT, MS_REC, MS_PRIVATE = 1, 4096, 32, 16384, 1 << 18
# per-mount flags the kernel locks in a user namespace: a remount must keep them
LOCKED = {"nosuid": 2, "nodev": 4, "noexec": 8, "noatime": 1024, "nodiratime": 2048, "relatime": 1 << 21}


def isolate(work_dir: str) -> str | None:
    """Namespaces as the docstring says; returns what could not be done (None when all was)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_void_p]
    if libc.unshare(CLONE_NEWUSER | CLONE_NEWNET | CLONE_NEWNS) != 0:
        return "no unprivileged namespaces: network and file system not isolated"
    if libc.mount(None, b"/", None, MS_REC | MS_PRIVATE, None) != 0:
        return "mounts not made private: file system not isolated"
    if libc.mount(work_dir.encode(), work_dir.encode(), None, MS_BIND, None) != 0:  # its own writable mount
        return "work directory not bound: file system not isolated"
    failed = []
    for line in reversed(open("/proc/self/mountinfo").read().splitlines()):
        fields = line.split()
        if fields[4] == work_dir:
            continue
        flags = MS_BIND | MS_REMOUNT | MS_RDONLY | sum(LOCKED.get(o, 0) for o in fields[5].split(","))
        if libc.mount(None, fields[4].encode(), None, flags, None) != 0:
            failed.append(fields[4])
    return f"not read-only: {', '.join(failed)}" if failed else None


def main() -> None:
    cpu, memory_mb, fsize_mb, nproc, flag, work_dir, program = sys.argv[1:8]
    if flag == "1":
        problem = isolate(work_dir)
        if problem:
            os.write(2, f"genzoo-sandbox: {problem}\n".encode())
    mb = 1 << 20
    limits = {resource.RLIMIT_CPU: int(cpu), resource.RLIMIT_AS: int(memory_mb) * mb,
              resource.RLIMIT_FSIZE: int(fsize_mb) * mb, resource.RLIMIT_NPROC: int(nproc), resource.RLIMIT_CORE: 0}
    for what, value in limits.items():
        resource.setrlimit(what, (value, value))
    os.chdir(work_dir)
    os.execv(sys.executable, [sys.executable, "-I", "-B", program])


if __name__ == "__main__":
    main()
