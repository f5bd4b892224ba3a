"""Properties of the clustering: accuracy, stable ids, a visible cap."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import DATA

from bench.accuracy import grouping_accuracy
from bench.corpus import labelled_lines
from bench.parsers import ours
from gardener_gate.cluster import Clusterer
from gardener_gate.entry import normalize

LOGHUB = DATA / "loghub-2k"


@pytest.mark.parametrize(
    ("system", "floor"), [("OpenSSH", 0.99), ("Zookeeper", 0.97)]
)
def test_grouping_accuracy_stays_above_its_floor(system, floor):
    messages, truth = labelled_lines(LOGHUB, system)

    accuracy = grouping_accuracy(ours(messages), truth)

    assert accuracy >= floor


def _lines_file(tmp_path: Path, lines: list[str], name: str) -> str:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


def _clusters(result) -> list[tuple[str, int, str]]:
    return sorted(
        (c["id"], c["count"], c["template"])
        for c in result.worklog["clusters"]
    )


def test_cluster_ids_do_not_depend_on_the_order_of_lines(gate, tmp_path):
    messages, _ = labelled_lines(LOGHUB, "HDFS")
    shuffled = messages[:]
    random.Random(7).shuffle(shuffled)

    forward = gate("run", "--logs", _lines_file(tmp_path, messages, "a.log"))
    mixed = gate("run", "--logs", _lines_file(tmp_path, shuffled, "b.log"))

    assert _clusters(forward) == _clusters(mixed)
    assert len(_clusters(forward)) > 10


def test_cluster_ids_are_the_same_in_every_process(tmp_path):
    messages, _ = labelled_lines(LOGHUB, "OpenSSH")
    logs = _lines_file(tmp_path, messages, "ssh.log")
    found = []
    for seed in ("1", "2"):
        out = tmp_path / f"out{seed}"
        # String hashes differ between processes unless pinned: ids must
        # not depend on them.
        env = {**os.environ, "PYTHONHASHSEED": seed}
        subprocess.run(
            [sys.executable, "-m", "gardener_gate", "run", "--logs", logs]
            + ["--out", str(out)],
            env=env,
            capture_output=True,
            check=False,
            timeout=120,
        )
        worklog = json.loads((out / "worklog.json").read_text())
        found.append(
            sorted((c["id"], c["count"]) for c in worklog["clusters"])
        )

    assert found[0] == found[1]
    assert len(found[0]) > 10


def test_past_the_cap_new_shapes_share_one_visible_cluster():
    clusterer = Clusterer(max_clusters=3)
    texts = [f"{word} happened" for word in ("alpha", "beta", "gamma")]
    texts += ["delta occurred twice", "epsilon went away", "alpha happened"]
    for seq, text in enumerate(texts):
        entry = normalize(seq, text)
        assert not isinstance(entry, str)
        clusterer.add(entry)

    clusters = {c.title: c.count for c in clusterer.clusters()}

    # Nothing counted before the cap is evicted; the rest is counted, not
    # dropped.
    assert clusters == {
        "alpha happened": 2,
        "beta happened": 1,
        "gamma happened": 1,
        "Other events (cluster limit reached)": 2,
    }
    assert clusterer.overflow == 2
