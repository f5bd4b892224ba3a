"""Expected failures of the gate, each mapped to one exit code."""

from __future__ import annotations

__all__ = [
    "EXIT_FAIL",
    "EXIT_INTERNAL",
    "EXIT_PASS",
    "EXIT_READ",
    "EXIT_USAGE",
    "GateError",
    "LogReadError",
    "RulesError",
    "RuleProblem",
    "UsageError",
]

from dataclasses import dataclass

EXIT_PASS = 0
EXIT_FAIL = 1
EXIT_USAGE = 2
EXIT_READ = 3
EXIT_INTERNAL = 4


class GateError(Exception):
    """A failure the user can act on; ``exit_code`` tells CI which kind."""

    exit_code = EXIT_INTERNAL


class UsageError(GateError):
    """The command line asks for something the gate cannot do."""

    exit_code = EXIT_USAGE


class LogReadError(GateError):
    """The logs could not be read at all."""

    exit_code = EXIT_READ


@dataclass(frozen=True, slots=True)
class RuleProblem:
    """One problem in a rules file, located as precisely as we can."""

    file: str
    line: int
    key: str
    problem: str

    def __str__(self) -> str:
        # Line 0 stands for the file as a whole (missing, unreadable).
        where = f"{self.file}:{self.line}" if self.line > 0 else self.file
        text = f"{where}: {self.key}: {self.problem}"
        # Keys come from the file: no control character may reach the
        # terminal, and the problem stays on one line.
        return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


class RulesError(GateError):
    """One or more rules files are invalid; the run stops before reading."""

    exit_code = EXIT_USAGE

    def __init__(self, problems: list[RuleProblem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))
