"""Probity: evaluate relationship managers' actions against compliance policies.

>>> import probity
>>> policies = probity.PolicySet.from_dir("policies")           # doctest: +SKIP
>>> engine = probity.Engine(policies)                            # doctest: +SKIP
>>> decision = engine.evaluate({"type": "product_sale", ...})    # doctest: +SKIP
>>> decision.verdict, decision.to_json()                         # doctest: +SKIP
>>> table = engine.replay(events_dataframe)                      # doctest: +SKIP

The engine is the Rust crate ``probity``; this package converts Python values to the engine's
JSON and maps its errors to the exceptions below. Decisions are byte-identical to the Rust
engine's (``Decision.to_json()``). ``Engine.replay`` runs many events at once, from and to lists,
pandas, pyarrow or polars tables (``probity._replay`` does those conversions).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, Iterable, List, NamedTuple, Optional

if TYPE_CHECKING:
    from ._probity import Decision, OverdueReport

__all__ = [
    "Decision",
    "Engine",
    "InputError",
    "InternalError",
    "Ledger",
    "OverdueReport",
    "PolicyError",
    "PolicySet",
    "ProbityError",
    "ReplaySummary",
    "StateError",
    "Submission",
    "__version__",
    "generate",
]


class ProbityError(Exception):
    """Base class of the errors Probity raises: for bad input (policy text or actions), a
    ledger's durable state (``StateError``), and ``InternalError`` for a failure of its own.

    ``code`` is the stable code of an error the engine raised (``I0012``, ``S0002``…: see
    docs/diagnostics.md and docs/state.md), ``None`` for one the binding raised while converting
    a Python value; ``field`` the input field at fault when there is one (``id``, ``at``);
    ``hint`` what to do about a ``StateError``.
    """

    code: Optional[str]
    field: Optional[str]
    hint: Optional[str]

    def __init__(
        self, message: str = "", code: Optional[str] = None, field: Optional[str] = None, hint: Optional[str] = None
    ) -> None:
        super().__init__(message)
        self.message, self.code, self.field, self.hint = message, code, field, hint

    def __str__(self) -> str:
        return self.message

    def __reduce__(self):  # keep the code, field and hint when pickled
        return (type(self), (self.message, self.code, self.field, self.hint))


class PolicyError(ProbityError):
    """Policy text that does not load.

    ``diagnostics`` holds every diagnostic (errors and warnings) as a dict with the keys
    ``code, severity, message, help, file, line, column, end_line, end_column, related``
    (lines and columns are 1-based). ``str(error)`` renders them with source excerpts.
    """

    diagnostics: List[Dict[str, Any]]

    def __init__(self, message: str, diagnostics: Optional[Iterable[Dict[str, Any]]] = None) -> None:
        super().__init__(message, "policy-errors")
        self.diagnostics = list(diagnostics or [])

    @property
    def errors(self) -> List[Dict[str, Any]]:
        """Only the diagnostics of severity ``error``."""
        return [d for d in self.diagnostics if d.get("severity") == "error"]

    def __str__(self) -> str:
        return self.message

    def __reduce__(self):  # keep `diagnostics` when pickled (e.g. across processes)
        return (type(self), (self.message, self.diagnostics))


class InputError(ProbityError, ValueError):
    """An action, history or timestamp that cannot be used: the message names the field and
    what is wrong with it. Nothing was evaluated or recorded."""


class StateError(ProbityError):
    """A ledger's durable state (``Engine.replay(..., state=...)``) that cannot be opened, read or
    committed: ``code`` is S0001 to S0007 (see docs/state.md), ``hint`` says what to do, and
    ``str()`` gives both, as ``probity replay --state`` prints them. Records written before the
    failure were committed; nothing after it was."""

    def __str__(self) -> str:
        return f"[{self.code}] {self.message}\nhint: {self.hint}" if self.code else self.message


class InternalError(ProbityError, RuntimeError):
    """A failure of Probity itself (a bug caught at the boundary, such as a panic in the
    engine), never the caller's fault: please report it. A ``RuntimeError`` too."""


class Submission(NamedTuple):
    """What ``Ledger.submit`` gives: the overdue reports of the implicit advance to the action's
    time, then the action's decision; unpacks as ``overdue, decision = ledger.submit(action)``."""

    overdue: List["OverdueReport"]
    decision: "Decision"


# Imported last: the native module raises the classes above (it looks them up in `probity`).
from ._probity import (  # noqa: E402
    Decision,
    Engine,
    Ledger,
    OverdueReport,
    PolicySet,
    __version__,
    generate,
)
from ._replay import ReplaySummary  # noqa: E402
