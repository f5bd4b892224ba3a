"""The two clusterings compared: ours, and Drain3 as it is usually set up.

Both take a list of messages and return one group label per message.
"""

from __future__ import annotations

from gardener_gate import masking
from gardener_gate.cluster import Clusterer
from gardener_gate.entry import normalize
from gardener_gate.redact import Redactor

# Drain3's example configuration (drain3.ini in its repository): masks for
# ids, IPs, hex sequences, hex numbers and numbers; similarity 0.4, tree
# depth 4, up to 100 children, '_' as an extra delimiter.
DRAIN3_MASKS = (
    (
        r"((?<=[^A-Za-z0-9])|^)(([0-9a-f]{2,}:){3,}([0-9a-f]{2,}))"
        r"((?=[^A-Za-z0-9])|$)",
        "ID",
    ),
    (
        r"((?<=[^A-Za-z0-9])|^)(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})"
        r"((?=[^A-Za-z0-9])|$)",
        "IP",
    ),
    (r"((?<=[^A-Za-z0-9])|^)([0-9a-f]{6,} ?){3,}((?=[^A-Za-z0-9])|$)", "SEQ"),
    (r"((?<=[^A-Za-z0-9])|^)([0-9A-F]{4} ?){4,}((?=[^A-Za-z0-9])|$)", "SEQ"),
    (r"((?<=[^A-Za-z0-9])|^)(0x[a-f0-9A-F]+)((?=[^A-Za-z0-9])|$)", "HEX"),
    (r"((?<=[^A-Za-z0-9])|^)([\-\+]?\d+)((?=[^A-Za-z0-9])|$)", "NUM"),
    (r"(?<=executed cmd )(\".+?\")", "CMD"),
)


def ours(messages: list[str]) -> list[str]:
    """Group labels from the gate's own stages: normalise, redact, cluster.

    Every call starts as a new process would, with no template cached.
    """
    masking.forget()
    clusterer = Clusterer(redactor=Redactor())
    shapes: list[tuple[str, str] | None] = []
    for seq, message in enumerate(messages):
        entry = normalize(seq, message)
        if isinstance(entry, str):
            shapes.append(None)
            continue
        shapes.append(clusterer.add(entry))
    clusterer.clusters()
    return [
        clusterer.assignment[shape] if shape is not None else "(skipped)"
        for shape in shapes
    ]


def drain3(messages: list[str]) -> list[str]:
    """Group labels from Drain3 with its example masking."""
    from drain3 import TemplateMiner
    from drain3.masking import MaskingInstruction
    from drain3.template_miner_config import TemplateMinerConfig

    config = TemplateMinerConfig()
    config.masking_instructions = [
        MaskingInstruction(pattern, name) for pattern, name in DRAIN3_MASKS
    ]
    config.mask_prefix = "<:"
    config.mask_suffix = ":>"
    config.drain_sim_th = 0.4
    config.drain_depth = 4
    config.drain_max_children = 100
    config.drain_extra_delimiters = ["_"]
    miner = TemplateMiner(config=config)
    return [
        str(miner.add_log_message(message)["cluster_id"])
        for message in messages
    ]
