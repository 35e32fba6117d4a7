"""Process helpers: timed commands, stopping, and reading a process's environment and memory."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path


def timed_run(command: list[str], cwd: Path | None = None) -> float:
    """Run ``command`` to completion (it must succeed); return its wall time in seconds."""
    started = time.perf_counter()
    subprocess.run(command, cwd=cwd, check=True, capture_output=True)
    return time.perf_counter() - started


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM (a warm shutdown for workers), then SIGKILL after 30 s."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_for_log(
    process: subprocess.Popen[bytes], log_path: Path, text: str, who: str, timeout: float = 30
) -> None:
    """Wait until ``text`` appears in the process's log; raise if it exits or times out first."""
    deadline = time.monotonic() + timeout
    while text not in log_path.read_text(errors="replace"):
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{who} did not start:\n{log_path.read_text()}")
        time.sleep(0.02)


def environment_of(pid: int) -> dict[str, str]:
    """The environment a running process was started with (``/proc/PID/environ``)."""
    raw = Path(f"/proc/{pid}/environ").read_bytes()
    pairs = (entry.decode(errors="replace").partition("=") for entry in raw.split(b"\0") if entry)
    return {key: value for key, _, value in pairs}


def rss_kib(pid: int) -> int:
    """The process's resident memory in KiB (``VmRSS``), 0 when not reported."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0
