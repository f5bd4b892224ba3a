"""Grouping accuracy (GA) of our clustering and Drain3's, per system.

    python -m bench.accuracy --corpus tests/data/loghub-2k [--json FILE]

A line counts as right when the group it was put in holds exactly the
lines of its true group; GA is the share of right lines. Both parsers run
with one configuration for every system.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter, defaultdict
from pathlib import Path

from bench import parsers
from bench.corpus import labelled_lines, systems


def grouping_accuracy(predicted: list[str], truth: list[str]) -> float:
    """The share of lines whose group is exactly their true group."""
    truth_sizes = Counter(truth)
    members: dict[str, list[int]] = defaultdict(list)
    for index, label in enumerate(predicted):
        members[label].append(index)
    right = 0
    for indexes in members.values():
        labels = {truth[i] for i in indexes}
        if len(labels) == 1 and truth_sizes[labels.pop()] == len(indexes):
            right += len(indexes)
    return right / len(truth) if truth else 0.0


def measure(corpus: Path) -> dict[str, object]:
    """GA of both parsers on every system of ``corpus``."""
    results: dict[str, dict[str, float]] = {}
    for system in systems(corpus):
        messages, truth = labelled_lines(corpus, system)
        results[system] = {
            "ga": round(grouping_accuracy(parsers.ours(messages), truth), 4),
            "drain3_ga": round(
                grouping_accuracy(parsers.drain3(messages), truth), 4
            ),
        }
    average = {
        key: round(sum(r[key] for r in results.values()) / len(results), 4)
        for key in ("ga", "drain3_ga")
    }
    return {"systems": results, "average": average}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, required=True)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    figures = measure(args.corpus)
    print(f"{'system':<12} {'ours':>7} {'drain3':>7}")
    for system, row in figures["systems"].items():  # type: ignore[union-attr]
        print(f"{system:<12} {row['ga']:>7.4f} {row['drain3_ga']:>7.4f}")
    average = figures["average"]
    print(
        f"{'average':<12} {average['ga']:>7.4f} "  # type: ignore[index]
        f"{average['drain3_ga']:>7.4f}"
    )  # type: ignore[index]
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
