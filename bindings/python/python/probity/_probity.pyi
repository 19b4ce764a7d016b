"""Type stubs of the native module (re-exported by ``probity``)."""

import datetime
import os
from typing import Any, Dict, Iterable, Iterator, List, Mapping, Optional, Tuple, Union, final, overload

__version__: str

JSON = Any
"""A JSON-like value: dict, list, tuple, str, int, float, bool, None, decimal.Decimal,
an aware datetime.datetime (RFC 3339) or a datetime.date (YYYY-MM-DD)."""

Timestamp = Union[datetime.datetime, str]
"""A timezone-aware datetime, or RFC 3339 text with an offset."""

@final
class PolicySet:
    """A loaded, checked set of policy files."""

    @staticmethod
    def from_dir(path: Union[str, "os.PathLike[str]"]) -> PolicySet:
        """Loads every ``.probity`` file under a directory.

        Raises ``PolicyError`` (with every diagnostic) for bad policy text and ``OSError``
        when a file cannot be read."""
    @staticmethod
    def from_sources(sources: Union[Mapping[str, str], Iterable[Tuple[str, str]]]) -> PolicySet:
        """Loads policies from ``{name: text}``. Raises ``PolicyError``."""
    @property
    def versions(self) -> List[Tuple[str, str]]:
        """``(id, version)`` of every loaded file, ordered by id and effective date."""
    @property
    def rule_count(self) -> int: ...
    @property
    def warnings(self) -> List[Dict[str, Any]]:
        """The warnings of the load, as diagnostic records."""

@final
class Engine:
    """Evaluates actions against a policy set."""

    def __init__(self, policy_set: PolicySet) -> None: ...
    def evaluate(self, action: Mapping[str, JSON], history: Optional[Mapping[str, JSON]] = None) -> Decision:
        """Decides on an action given the RM's history
        (``{"actions": [...], "breaches": [...], "obligations": [...]}``). Pure: records nothing.
        Raises ``InputError`` for an unusable action or history."""
    def evaluate_json(self, action: str, history: Optional[str] = None) -> Decision:
        """``evaluate`` with the action (and history) as JSON text."""
    def overdue(self, history: Mapping[str, JSON], at: Timestamp) -> List[OverdueReport]:
        """The overdue reports of ``history`` at time ``at``. Pure."""
    def ledger(self) -> Ledger:
        """A new, empty ledger over this engine's policy set."""
    @property
    def policy_set(self) -> PolicySet: ...

@final
class Ledger:
    """A stateful, per-RM history. Actions must arrive in time order per RM."""

    def load(self, history: Mapping[str, JSON]) -> None:
        """Loads history as it is; breaches and obligations must name their ``rm``."""
    def submit(self, action: Mapping[str, JSON]) -> Submission:
        """Advances the action's RM to its time (reporting what fell overdue), decides on the
        action, and records it whatever its verdict. Raises ``InputError``."""
    def advance_to(self, at: Timestamp) -> List[OverdueReport]:
        """Advances every RM to ``at``, reporting obligations that fell overdue, in deadline order."""
    def open_obligations(self) -> Tuple[int, int]:
        """``(open and not yet overdue, reported overdue but still open)``."""
    @property
    def rm_count(self) -> int: ...
    @property
    def retained_items(self) -> int: ...

@final
class Submission:
    """What ``Ledger.submit`` gives; unpacks as ``overdue, decision``."""

    @property
    def overdue(self) -> List[OverdueReport]: ...
    @property
    def decision(self) -> Decision: ...
    def __len__(self) -> int: ...
    @overload
    def __getitem__(self, index: int) -> Any: ...
    @overload
    def __getitem__(self, index: slice) -> Tuple[Any, ...]: ...
    def __iter__(self) -> Iterator[Any]: ...

@final
class Decision:
    """The decision on one action."""

    @staticmethod
    def from_json(text: str) -> Decision: ...
    @property
    def action(self) -> str: ...
    @property
    def at(self) -> str: ...
    @property
    def verdict(self) -> str:
        """``"allow"``, ``"review"`` or ``"deny"``."""
    @property
    def policies(self) -> List[Dict[str, str]]: ...
    @property
    def findings(self) -> List[Dict[str, Any]]: ...
    @property
    def obligations(self) -> List[Dict[str, str]]: ...
    @property
    def fulfilled(self) -> List[Dict[str, str]]: ...
    @property
    def escalations(self) -> List[str]: ...
    @property
    def sanctions(self) -> List[Dict[str, Any]]: ...
    def to_dict(self) -> Dict[str, Any]: ...
    def to_json(self) -> str:
        """Compact JSON, byte-identical to the Rust engine's ``serde_json::to_string``."""
    def __eq__(self, other: object) -> bool: ...

@final
class OverdueReport:
    """An obligation that passed its deadline."""

    @property
    def rm(self) -> str: ...
    @property
    def at(self) -> str: ...
    @property
    def obligation(self) -> Dict[str, str]: ...
    @property
    def findings(self) -> List[Dict[str, Any]]: ...
    @property
    def escalations(self) -> List[str]: ...
    @property
    def sanctions(self) -> List[Dict[str, Any]]: ...
    def to_dict(self) -> Dict[str, Any]: ...
    def to_json(self) -> str: ...
    def __eq__(self, other: object) -> bool: ...
