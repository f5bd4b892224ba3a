"""The bundled example runs end to end."""

from __future__ import annotations

from conftest import CASES


def test_staging_example_fails_the_gate(gate):
    result = gate("run", "--logs", str(CASES / "staging-3day" / "input.json"))

    assert result.code == 1
    assert result.worklog["verdict"] == "fail"
