"""Clustering throughput, ours beside Drain3's, on the same lines.

    python -m bench.speed --corpus tests/data/loghub-2k \\
        [--linux ../shared/corpus/loghub-2.0/Linux] \\
        [--lines 200000] [--runs 5]

Inputs: the 2k systems concatenated and repeated to ``--lines`` lines,
and, when given, Loghub-2.0's full Linux log (its structured CSV, or the
folder holding it). Each parser runs ``--runs`` times on each input; the
table gives lines per second (median, min, max) and the ratio of the
medians.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from bench import parsers
from bench.corpus import labelled_lines, read_columns, systems


def repeated_corpus(folder: Path, lines: int) -> list[str]:
    """Every system's messages, concatenated and repeated to ``lines``."""
    pool: list[str] = []
    for system in systems(folder):
        pool.extend(labelled_lines(folder, system)[0])
    return [pool[i % len(pool)] for i in range(lines)]


def _structured(path: Path) -> Path:
    if not path.is_dir():
        return path
    found = sorted(path.glob("*_structured*.csv"))
    if not found:
        raise SystemExit(f"{path}: no *_structured*.csv in this folder")
    return found[0]


def lines_per_second(
    parse: Callable[[list[str]], list[str]], messages: list[str], runs: int
) -> list[float]:
    """Throughput of ``parse`` over ``messages``, one figure per run."""
    rates = []
    for _ in range(runs):
        started = time.perf_counter()
        parse(messages)
        rates.append(len(messages) / (time.perf_counter() - started))
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, required=True)
    parser.add_argument("--linux", type=Path)
    parser.add_argument("--lines", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    inputs = {
        f"loghub-2k, {args.lines} lines": repeated_corpus(
            args.corpus, args.lines
        )
    }
    if args.linux:
        inputs["Linux (Loghub-2.0)"] = read_columns(_structured(args.linux))[0]
    print(
        f"{'input':<24} {'parser':<8} {'median/s':>10} {'min/s':>10} "
        f"{'max/s':>10}"
    )
    for name, messages in inputs.items():
        medians = {}
        for label, parse in (
            ("ours", parsers.ours),
            ("drain3", parsers.drain3),
        ):
            rates = lines_per_second(parse, messages, args.runs)
            medians[label] = statistics.median(rates)
            print(
                f"{name:<24} {label:<8} {medians[label]:>10.0f} "
                f"{min(rates):>10.0f} {max(rates):>10.0f}"
            )
        print(
            f"{name:<24} ratio ours/drain3: "
            f"{medians['ours'] / medians['drain3']:.2f}"
        )


if __name__ == "__main__":
    main()
