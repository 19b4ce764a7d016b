"""Type stubs of the native module (re-exported by ``probity``)."""

import datetime
import os
from typing import Any, Dict, Iterable, Iterator, List, Literal, Mapping, Optional, Tuple, Union, final, overload

from . import Submission
from ._replay import ReplaySummary

__version__: str

JSON = Any
"""A JSON-like value: dict, list, tuple, str, int, float, bool, None, decimal.Decimal,
an aware datetime.datetime (RFC 3339) or a datetime.date (YYYY-MM-DD)."""

Timestamp = Union[datetime.datetime, str]
"""A timezone-aware datetime, or RFC 3339 text with an offset."""

Events = Any
"""What ``Engine.replay`` reads, one action per row (rows are numbered from 1, as lines are):

- an iterable of dicts (converted as ``evaluate`` converts an action) or of JSON texts
  (``str``/``bytes``; an open text file of JSON lines is such an iterable);
- a ``pandas.DataFrame``, ``pyarrow.Table``/``RecordBatch`` or ``polars.DataFrame``/``LazyFrame``,
  one column per field (nested fields as dicts / struct columns; missing values are absent
  fields). Each is written as JSON lines by the library's own writer (a pyarrow table through
  polars when it is installed). Keep timestamps as RFC 3339 text to keep their offsets; a
  timezone-aware datetime column is written with its offset (polars and pyarrow: in UTC), a naive
  one without, which the engine reports as an error on each row;
- a path (``str`` or ``os.PathLike``) of a JSON-lines file, or ``bytes``/``bytearray``/``memoryview``
  holding JSON lines.
"""

Table = Any
"""A list of dicts, a ``pandas.DataFrame``, a ``pyarrow.Table`` or a ``polars.DataFrame``."""

@final
def generate(
    out: Union[str, os.PathLike[str]],
    *,
    rms: int,
    days: int,
    seed: int,
    violation_rate: float = 0.02,
    start: str = "2026-02-02",
    labels: Optional[Union[str, os.PathLike[str]]] = None,
) -> Dict[str, Any]:
    """Writes a seeded, realistic JSON-lines stream of RM actions for ``policies/cn`` to
    ``out``, with known violations injected, as ``probity generate`` does (the same arguments
    give the same bytes), and the injected violations to ``labels``, one JSON object a line.
    Returns ``{"events": n, "first": ts, "last": ts, "injected": {kind: n}}``. Raises
    ``ValueError`` for bad arguments and ``OSError`` for a file that cannot be written."""

class PolicySet:
    """A loaded, checked set of policy files."""

    @staticmethod
    def from_dir(path: Union[str, "os.PathLike[str]"], *, require_policy: bool = False) -> PolicySet:
        """Loads every ``.probity`` file under a directory.

        With ``require_policy``, an action no policy version is in force for is decided
        ``review`` with one ``error`` finding (policy ``probity``, rule ``no-policy-in-force``)
        instead of ``allow`` with no policies.

        Raises ``PolicyError`` (with every diagnostic) for bad policy text and ``OSError``
        when a file cannot be read, is not a regular file or is larger than the limit, or when
        the directory holds no ``.probity`` file."""
    @staticmethod
    def from_sources(
        sources: Union[Mapping[str, str], Iterable[Tuple[str, str]]], *, require_policy: bool = False
    ) -> PolicySet:
        """Loads policies from ``{name: text}`` (``require_policy`` as in ``from_dir``).
        Raises ``PolicyError``."""
    @staticmethod
    def from_bundle(
        path: Union[str, "os.PathLike[str]"], trust: Union[str, "os.PathLike[str]"], *, require_policy: bool = False
    ) -> PolicySet:
        """Loads a signed bundle (``probity bundle``) once its signature verifies with the public
        key file ``trust`` (``KEY.pub``) and every file matches its manifest, as ``probity replay
        --bundle FILE --trust KEY.pub`` does: the same decisions as the bundled directory.
        Raises ``PolicyError`` (its message starts with the code, ``[B0002]``…, and ends with a
        hint) for a bundle that does not verify or load, ``OSError`` for a file that cannot be
        read."""
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
    @overload
    def replay(
        self,
        events: Events,
        *,
        as_of: Optional[Timestamp] = None,
        jobs: Optional[int] = None,
        output: Literal["decisions", "findings"] = "decisions",
        into: Optional[Literal["list", "pandas", "pyarrow", "polars"]] = None,
        summary: Literal[False] = False,
        max_skew: Optional[Union[datetime.timedelta, float]] = ...,
        report: Optional[Union[str, os.PathLike[str]]] = None,
        state: Optional[Union[str, os.PathLike[str]]] = None,
    ) -> Table:
        """Replays ``events`` (see ``Events``) in order through fresh ledgers, one per RM, as
        ``probity replay`` does: each action first reports the obligations of its RM that fell
        overdue, then is decided and recorded; unusable rows become ``error`` records and
        change nothing. ``as_of`` then advances every RM to that time (reporting what is
        overdue by then). The engine runs with the GIL released, on ``jobs`` threads (default:
        every core); the result is the same for any ``jobs``. Ctrl-C stops it promptly with
        ``KeyboardInterrupt``.

        An action dated more than ``max_skew`` (a ``timedelta`` or seconds; default one day;
        ``None``: no bound) ahead of the latest time of the actions before it is an ``error``
        record that moves no clock, unless the next action is past that bound too (a quiet
        weekend, not a mistyped year).

        ``output="jsonl"`` returns the records as JSON lines (``bytes``), byte-identical to
        ``probity replay``. Otherwise the result is a table of the kind passed in
        (``into`` overrides: ``"list"`` of dicts, ``"pandas"``, ``"pyarrow"``, ``"polars"``;
        a path, bytes or iterable gives a list of dicts), with these columns (null is ``None``
        in a list of dicts, ``NaN`` in pandas):

        ``output="decisions"``, one row per record, in output order:
          ``kind`` (``decision``, ``overdue`` or ``error``); ``line`` (the input line or row,
          from 1, that the record answers; 0 for the reports of the closing ``as_of``);
          ``action`` (the action's id; for ``overdue``, the action that started the
          obligation; null for ``error``); ``rm`` (null when an ``error`` line names none);
          ``at`` (the decision's time or the missed deadline; null for ``error``);
          ``verdict`` (null unless ``decision``); ``findings`` (their count); ``rules`` (the
          ids of the rules, conflicts and duties that fired, joined by ``,``); ``escalations``
          (teams, joined by ``,``); ``sanctions`` (``ladder:step`` of the steps reached,
          joined by ``,``); ``error`` (the message of an ``error`` record, else null);
          ``json`` (the record's exact JSON line: ``{"decision": …}``, ``{"overdue": …}`` or
          ``{"error": {"line": N, "message": …}}``, as ``Decision.to_json`` and the CLI write).

        ``output="findings"``, one row per finding of a decision or overdue report:
          ``action``, ``rm``, ``at`` (as above); ``policy``, ``rule``; ``kind`` (``rule``,
          ``conflict``, ``duty``, ``overdue``, ``error`` or ``restriction``); ``severity`` and ``ladder``
          (when the finding is a breach, else null); ``message``; ``record`` (``decision`` or
          ``overdue``); ``line``.

        Text columns are ``str`` (Arrow ``large_string``), ``line`` and ``findings`` are
        ``int64``. With ``summary=True`` the result is ``(table, summary)``: see
        ``ReplaySummary``.

        Raises ``ValueError`` for a bad ``output``, ``into`` or ``jobs``, ``InputError`` for a bad
        ``as_of`` or a Python value that has no JSON form (naming ``events[i]``), ``TypeError``
        for ``events`` of another type and ``OSError`` for a file that cannot be read.

        With ``report`` (a path), the same replay also writes its self-contained HTML report
        there, as ``probity replay --report`` does (the header names the policy versions loaded
        and the events' file, or "(events in memory)"); ``OSError`` if it cannot be written.

        With ``state`` (the path of a SQLite file, or a ``postgres://`` URL), the ledgers are
        kept there across replays, as ``probity replay --state`` keeps them: the state is opened
        (created if absent) and every RM loaded, what changed is committed as the replay goes
        (every 10,000 lines, or four per RM the state tracks if more, and at the end), and the
        records of a part are returned only once it is committed. So events replayed in several
        parts give the records of one replay; an action already recorded (same RM, id and
        content) gives its recorded decision and no overdue reports again, and the same id with
        other content is an ``error`` record (I0012). A state that cannot be opened, read or
        committed raises ``StateError`` (``code`` S0001 to S0007, with a ``hint``)."""
    @overload
    def replay(
        self,
        events: Events,
        *,
        as_of: Optional[Timestamp] = None,
        jobs: Optional[int] = None,
        output: Literal["decisions", "findings"] = "decisions",
        into: Optional[Literal["list", "pandas", "pyarrow", "polars"]] = None,
        summary: Literal[True],
        max_skew: Optional[Union[datetime.timedelta, float]] = ...,
        report: Optional[Union[str, os.PathLike[str]]] = None,
        state: Optional[Union[str, os.PathLike[str]]] = None,
    ) -> Tuple[Table, ReplaySummary]: ...
    @overload
    def replay(
        self,
        events: Events,
        *,
        as_of: Optional[Timestamp] = None,
        jobs: Optional[int] = None,
        output: Literal["jsonl"],
        out: Union[str, os.PathLike[str]],
        max_skew: Optional[Union[datetime.timedelta, float]] = ...,
        report: Optional[Union[str, os.PathLike[str]]] = None,
        state: Optional[Union[str, os.PathLike[str]]] = None,
    ) -> ReplaySummary:
        """Writes the JSON lines to the file ``out`` as they are decided, keeping none of them
        in memory, and returns the summary. They go to a temporary file beside ``out``, renamed
        over it once complete: a replay that fails or is interrupted leaves ``out`` as it was.
        Raises ``OSError`` when the file cannot be written and ``ValueError`` when ``out`` is
        the events file, with another ``output`` or with ``into``."""
    @overload
    def replay(
        self,
        events: Events,
        *,
        as_of: Optional[Timestamp] = None,
        jobs: Optional[int] = None,
        output: Literal["jsonl"],
        into: None = None,
        summary: Literal[False] = False,
        max_skew: Optional[Union[datetime.timedelta, float]] = ...,
        report: Optional[Union[str, os.PathLike[str]]] = None,
        state: Optional[Union[str, os.PathLike[str]]] = None,
    ) -> bytes: ...
    @overload
    def replay(
        self,
        events: Events,
        *,
        as_of: Optional[Timestamp] = None,
        jobs: Optional[int] = None,
        output: Literal["jsonl"],
        into: None = None,
        summary: Literal[True],
        max_skew: Optional[Union[datetime.timedelta, float]] = ...,
        report: Optional[Union[str, os.PathLike[str]]] = None,
        state: Optional[Union[str, os.PathLike[str]]] = None,
    ) -> Tuple[bytes, ReplaySummary]: ...
    def _replay(
        self, source: str, payload: Any, as_of: Optional[Timestamp], jobs: Optional[int], output: str,
        max_skew: Optional[float], files: Tuple[Optional[str], Optional[str], Optional[str]],
    ) -> Tuple[Union[bytes, _Records], ReplaySummary]:
        """The native half of ``replay`` (``probity._replay`` calls it); ``files`` are ``(out, report, state)``."""

@final
class Ledger:
    """A stateful, per-RM history. Actions must arrive in time order per RM."""

    def load(self, history: Mapping[str, JSON]) -> None:
        """Loads history as it is; breaches and obligations must name their ``rm``."""
    def submit(self, action: Mapping[str, JSON]) -> Submission:
        """Advances the action's RM to its time (reporting what fell overdue), decides on the
        action, and records it whatever its verdict. Raises ``InputError``.

        A retry (an action id already recorded for the RM, with the same content) returns the
        recorded decision with no overdue reports and records nothing; the same id with other
        content raises ``InputError`` with ``code`` I0012. Decisions are kept for retries for the
        policy set's longest window (at least 30 days) after the action's time."""
    def advance_to(self, at: Timestamp) -> List[OverdueReport]:
        """Advances every RM to ``at``, reporting obligations that fell overdue, in deadline order."""
    def snapshot(self) -> Dict[str, Any]:
        """The ledger's whole state as a dict (``json.loads`` of ``snapshot_json()``, members in
        the same order): ``{"format", "policies", "rms"}``, every RM sorted by id (see
        docs/state.md for the format). Its numbers are Python's (a decimal written ``1.50`` in
        an action reads back as the float ``1.5``): keep ``snapshot_json()`` to store exact text."""
    def snapshot_json(self) -> str:
        """The snapshot as compact JSON, byte-identical to the Rust ``Ledger::snapshot().to_json()``."""
    def restore(self, snapshot: Union[Mapping[str, JSON], str]) -> None:
        """Adds the RMs of a snapshot (a dict as ``snapshot`` gives it, or its JSON text) to the
        ledger, decoding their actions against this ledger's policy set: all or nothing. Raises
        ``InputError`` with ``code`` I0013 (not a snapshot, or a later format), I0014 (an item
        of a policy version, duty or ladder the set lacks) or I0015 (an RM the ledger tracks
        already)."""
    def open_obligations(self) -> Tuple[int, int]:
        """``(open and not yet overdue, reported overdue but still open)``."""
    @property
    def rm_count(self) -> int: ...
    @property
    def retained_items(self) -> int: ...

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
    def obligation(self) -> Dict[str, Any]:
        """``{policy, duty, action, due}``; a periodic duty's has ``period: {from, until}`` instead of ``action``."""
    @property
    def findings(self) -> List[Dict[str, Any]]: ...
    @property
    def escalations(self) -> List[str]: ...
    @property
    def sanctions(self) -> List[Dict[str, Any]]: ...
    def to_dict(self) -> Dict[str, Any]: ...
    def to_json(self) -> str: ...
    def __eq__(self, other: object) -> bool: ...

@final
class _Records:
    """Internal: a replay's records as columns, from which ``probity._replay`` builds tables."""

    @property
    def schema(self) -> List[Tuple[str, str]]:
        """``(name, "str" or "int")`` per column, in order."""
    def arrow(self) -> List[List[Tuple[int, int, Optional[bytes], Optional[bytes], bytes]]]:
        """Per chunk, per column: ``(rows, null_count, validity, offsets, data)`` Arrow buffers."""
    def json(self, by_columns: bool) -> Union[Dict[str, List[Any]], List[Dict[str, Any]]]:
        """``{name: [values]}`` by columns, else ``[{name: value}]``."""
    def __len__(self) -> int: ...
