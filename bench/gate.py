"""The whole gate on a large NDJSON file, beside a bare parse of it.

    python -m bench.gate --entries /tmp/entries.ndjson [--runs 3]

Both run as separate processes: ``gardener-gate run`` end to end, and a
loop that only parses each line with the JSON library the gate uses. The
table gives wall time (median of the runs) and peak memory (the largest
resident size of the command's processes together) of each, and the
ratio of the wall times.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BARE_PARSE = (
    "import json, sys\n"
    "with open(sys.argv[1], 'rb') as handle:\n"
    "    for line in handle:\n"
    "        if line.strip():\n"
    "            json.loads(line)\n"
)


def measure(command: list[str]) -> tuple[float, float]:
    """Wall seconds and peak resident MiB of one run of ``command``.

    The gate may read a large file in two processes at once; the peak is
    that of the two together, sampled every 100 ms (on Linux; elsewhere
    the larger process's own peak), and never below the largest single
    process's own peak as the kernel counted it.
    """
    started = time.perf_counter()
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    peak = 0
    while process.poll() is None:
        peak = max(peak, _tree_rss(process.pid))
        # Reading Pss walks the memory map: a few ms a process.
        time.sleep(0.1)
    wall = time.perf_counter() - started
    assert process.stderr is not None
    if process.returncode not in (0, 1):
        error = process.stderr.read().decode()[-500:]
        sys.exit(f"{command[0]} failed: {error}")
    # Children are waited for one at a time, so this peak is this run's or
    # an earlier, larger one; runs are ordered so that the gate comes last.
    own = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    return wall, max(peak, own) / (1 << 20)


def _tree_rss(pid: int) -> int:
    """Resident bytes of a process and its children, 0 where unknown.

    Each process counts its share of the pages it shares with the other
    (Pss: a forked child shares the parent's loaded modules), where the
    kernel tells it; else all its resident pages (VmRSS).
    """
    total = 0
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            children = Path(
                f"/proc/{current}/task/{current}/children"
            ).read_text()
            total += _resident(current)
        except OSError:
            continue
        pending.extend(int(child) for child in children.split())
    return total


def _resident(pid: int) -> int:
    for name, field in (("smaps_rollup", "Pss:"), ("status", "VmRSS:")):
        try:
            text = Path(f"/proc/{pid}/{name}").read_text()
        except OSError:
            continue
        for line in text.splitlines():
            if line.startswith(field):
                return int(line.split()[1]) * 1024
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=Path, required=True)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    bare = [sys.executable, "-c", BARE_PARSE, str(args.entries)]
    with tempfile.TemporaryDirectory() as out:
        gate = [
            sys.executable,
            "-m",
            "gardener_gate",
            "run",
            "--logs",
            str(args.entries),
            "--out",
            out,
            "--dry-run",
        ]
        bare_runs = [measure(bare) for _ in range(args.runs)]
        gate_runs = [measure(gate) for _ in range(args.runs)]
    bare_wall = statistics.median(w for w, _ in bare_runs)
    gate_wall = statistics.median(w for w, _ in gate_runs)
    print(f"{'command':<12} {'wall s (median)':>16} {'peak MiB':>10}")
    print(
        f"{'bare parse':<12} {bare_wall:>16.2f} "
        f"{max(p for _, p in bare_runs):>10.0f}"
    )
    print(
        f"{'gate':<12} {gate_wall:>16.2f} "
        f"{max(p for _, p in gate_runs):>10.0f}"
    )
    print(f"ratio gate/bare parse: {gate_wall / bare_wall:.2f}")


if __name__ == "__main__":
    main()
