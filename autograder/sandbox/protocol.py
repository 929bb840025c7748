"""The messages between the grader and the sandboxed worker, and how untrusted ones are read.

Three channels cross the sandbox's wall:

* grader -> worker, on the control socket: :class:`Hello` (the probe-only sources of the
  PUBLIC suites, once) and :class:`Job` (one phase of one student's run: the notebooks as
  file descriptors; a visible job carries the seeds of the public cases, a hidden job
  carries none);
* grader -> hidden child, on a pipe the worker passes through without reading it:
  :class:`HiddenPayload` (the hidden probes and seeds), written only after the child
  has loaded the notebooks and said :class:`Loaded`. The worker, which every child is
  forked from, never holds a hidden seed or a hidden probe;
* worker -> grader, on the control socket: :class:`Ready` and :class:`End`. The worker
  runs no student code and the student's child cannot reach this socket;
* child -> grader, on a fresh pipe per job: :class:`Status`, :class:`Loaded`,
  :class:`Begin`, :class:`CaseResult` and :class:`Done`, one JSON line each. The child runs student code, so every line is a
  *claim*: :func:`read_result_line` checks it strictly (types, sizes, nesting, case ids
  of the job's notebooks only) and turns anything malformed into a :class:`ProtocolError`
  that costs only the job it came from.

This module is standard library only: it runs inside the worker too.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import asdict, dataclass, field

MAX_LINE_BYTES = 8 * 1024 * 1024  # one result line: the solutions' largest is under 100 kB, and verify refuses 4x the reference + 1 MiB
MAX_DEPTH = 24  # nesting of a result value (the codec nests 16 deep at most, plus tags)
MAX_TEXT = 4000  # characters of an error message, a call description, a problem
MAX_ITEMS = 200  # problems, load errors, definitions, calls
MAX_NODES = 100_000  # values (numbers, strings, lists, ...) in one result; the solutions' largest has about 4 000


class ProtocolError(ValueError):
    """A line from the child that is not a well-formed message of the job."""


# --------------------------------------------------------------------------- #
# Grader -> worker
# --------------------------------------------------------------------------- #


@dataclass
class ProbeModule:
    module: str  # module name inside the sandbox, e.g. "probes.hidden.nb02"
    notebook: str  # "01" .. "07"
    source: str  # probe-only source (autograder.grading.probes.probe_source)


@dataclass
class Hello:
    probes: list[ProbeModule]

    @classmethod
    def from_dict(cls, data: dict) -> "Hello":
        return cls([ProbeModule(**item) for item in data["probes"]])


@dataclass
class ChildLimits:
    memory_bytes: int
    cpu_seconds: int
    file_bytes: int
    processes: int


@dataclass
class Job:
    job: int
    notebooks: list[str]  # series numbers, in the order of the file descriptors
    seeds: dict[str, int]  # visible phase: public case id -> grading seed (only these notebooks'); hidden phase: empty
    timeout: float  # wall clock per notebook
    load_timeout: float  # wall clock for one chunk of definitions
    limits: ChildLimits
    budget: float = 0.0  # wall clock for the whole job, however often a notebook says it starts (0: timeout per notebook)
    phase: str = "visible"  # "visible": public probes, public seeds; "hidden": the last fd is the HiddenPayload pipe

    @classmethod
    def from_dict(cls, data: dict) -> "Job":
        return cls(**{**data, "limits": ChildLimits(**data["limits"])})


@dataclass
class HiddenPayload:
    """What only a hidden-phase child receives, after it has loaded the notebooks.

    ``run``: the visibilities to run, in order (the grader sends ["hidden"]: public cases run
    in the visible phase, for students and references alike; with "public" the seeds must
    cover those cases too).
    """

    probes: list[ProbeModule]
    seeds: dict[str, int]
    run: list[str] = field(default_factory=lambda: ["hidden"])

    @classmethod
    def from_dict(cls, data: dict) -> "HiddenPayload":
        return cls([ProbeModule(**item) for item in data["probes"]], {k: int(v) for k, v in data["seeds"].items()}, list(data["run"]))


# --------------------------------------------------------------------------- #
# Worker -> grader
# --------------------------------------------------------------------------- #


@dataclass
class End:
    job: int = 0
    timed_out: bool = False
    seconds: float = 0.0
    signal: int | None = None
    exit_code: int | None = None
    worker_died: bool = False


def encode(message) -> bytes:
    """One message as a JSON line (dataclass -> dict, with its kind)."""
    return (json.dumps({"kind": type(message).__name__, **asdict(message)}) + "\n").encode()


def decode_worker(line: bytes) -> Ready | End | None:
    """A message the worker sent on the control socket (None when it is not one)."""
    try:
        data = json.loads(line)
        kind = data.pop("kind")
        if kind == "Ready":
            return Ready()
        if kind == "End":
            return End(**data)
    except (ValueError, TypeError, KeyError, RecursionError):
        pass
    return None


@dataclass
class Ready:
    pass


# --------------------------------------------------------------------------- #
# Child -> grader (untrusted)
# --------------------------------------------------------------------------- #


@dataclass
class Status:
    notebook: str
    problems: list[str] = field(default_factory=list)
    load_errors: list[str] = field(default_factory=list)
    definitions: list[str] = field(default_factory=list)
    invalid: bool = False


@dataclass
class Observation:
    """What a probe reports: the plain-data value, or the error the student's code raised."""

    value: object = None
    calls: list[str] = field(default_factory=list)
    error: dict | None = None  # {"type", "message", "where"}
    seconds: float = 0.0

    def as_dict(self) -> dict:
        return {"value": self.value, "calls": self.calls, "error": self.error, "seconds": self.seconds}


@dataclass
class CaseResult:
    id: str
    obs: Observation


@dataclass
class Loaded:
    """A hidden-phase child has loaded every notebook: the grader may now send the HiddenPayload."""


LOADED_LINE = b'{"kind": "Loaded"}'


@dataclass
class Begin:
    """The child starts running one notebook's tests (of one visibility): what a crash is charged to."""

    notebook: str


@dataclass
class Done:
    notebook: str


def _text(value, what: str, limit: int = MAX_TEXT) -> str:
    if not isinstance(value, str):
        raise ProtocolError(f"{what} is not text")
    return value[:limit]


def _texts(value, what: str) -> list[str]:
    if not isinstance(value, list):
        raise ProtocolError(f"{what} is not a list")
    return [_text(v, what) for v in value[:MAX_ITEMS]]


def _number(value, what: str) -> float:
    try:
        number = float(value) if type(value) in (int, float) else math.nan
    except OverflowError:  # an int of thousands of digits: JSON reads it, float() cannot hold it
        number = math.nan
    if not math.isfinite(number):
        raise ProtocolError(f"{what} is not a finite number")
    return number


_TAGS = {"$nd", "$tensor", "$np", "$tuple", "$dict", "$object"}
# The dtypes helpers.checking.to_plain writes: numpy's bool, int, uint and float (dtype.str), and torch's
# (str(tensor.dtype)). Anything else is refused before the grader looks it up: np.dtype("O") makes object
# arrays, and getattr(torch, "_dynamo") imports torch's whole compiler stack (seconds, 70 MB) into the grader.
_NUMPY_DTYPE = re.compile(r"[<>|=][biuf](?:1|2|4|8|16)")
_TORCH_DTYPE = re.compile(r"torch\.(?:float|bfloat|int|uint|bool|complex)[0-9a-z_]{0,16}")


_SCALARS = frozenset((bool, int, float, str, type(None)))


def check_plain(value, depth: int = 0, _nodes: list | None = None) -> None:
    """Raise ProtocolError unless ``value`` has the forms helpers.codec.to_plain makes.

    At most MAX_NODES values in all: millions of tiny numbers in one line would cost the
    grader gigabytes of objects, kept until the batch's verification.
    """
    nodes = _nodes if _nodes is not None else [MAX_NODES]
    nodes[0] -= 1
    if nodes[0] < 0:
        raise ProtocolError("the result holds too many values")
    if depth > MAX_DEPTH:
        raise ProtocolError("the result is nested too deeply")
    kind = type(value)
    if kind in _SCALARS:
        return
    if kind is list:
        _check_items(value, depth + 1, nodes)
        return
    if kind is not dict:
        raise ProtocolError("an unexpected type in a result")
    tags = _TAGS & value.keys()
    if len(tags) != 1:
        raise ProtocolError("a result object without exactly one known tag")
    tag = tags.pop()
    if tag in ("$nd", "$tensor"):
        shape = value.get("shape")
        if not isinstance(value.get("b64"), str) or not isinstance(shape, list) or not all(type(n) is int and n >= 0 for n in shape):
            raise ProtocolError("a malformed array in a result")
        numpy_dtype = value[tag] if tag == "$nd" else value.get("nd")
        if not isinstance(numpy_dtype, str) or not _NUMPY_DTYPE.fullmatch(numpy_dtype):
            raise ProtocolError("a malformed array dtype in a result")
        if tag == "$tensor" and not (isinstance(value[tag], str) and _TORCH_DTYPE.fullmatch(value[tag])):
            raise ProtocolError("a malformed tensor dtype in a result")
    elif tag == "$np":
        if not isinstance(value["$np"], str) or not _NUMPY_DTYPE.fullmatch(value["$np"]) or type(value.get("value")) not in (bool, int, float):
            raise ProtocolError("a malformed numpy scalar in a result")
    elif tag == "$tuple":
        if not isinstance(value["$tuple"], list):
            raise ProtocolError("a malformed tuple in a result")
        check_plain(value["$tuple"], depth + 1, nodes)
    elif tag == "$dict":
        pairs = value["$dict"]
        if not isinstance(pairs, list) or not all(isinstance(p, list) and len(p) == 2 for p in pairs):
            raise ProtocolError("a malformed dict in a result")
        if len(pairs) > nodes[0]:
            raise ProtocolError("the result holds too many values")
        _check_items([part for pair in pairs for part in pair], depth + 1, nodes)  # key, value, key, ...
    elif tag == "$object":
        if not isinstance(value["$object"], str) or not isinstance(value.get("repr", ""), str):
            raise ProtocolError("a malformed object in a result")


def _check_items(items: list, depth: int, nodes: list) -> None:
    """check_plain of every item (at ``depth``): a scalar is counted here, not in a call of its own (lists of numbers are long)."""
    if len(items) > nodes[0]:
        raise ProtocolError("the result holds too many values")
    if items and depth > MAX_DEPTH:
        raise ProtocolError("the result is nested too deeply")
    for item in items:
        if type(item) in _SCALARS:
            nodes[0] -= 1
        else:
            check_plain(item, depth, nodes)
    if nodes[0] < 0:
        raise ProtocolError("the result holds too many values")


def _observation(data) -> Observation:
    if not isinstance(data, dict) or not {"value", "calls", "error", "seconds"} <= data.keys():
        raise ProtocolError("a case result without value, calls, error and seconds")
    error = data["error"]
    if error is not None:
        if not isinstance(error, dict):
            raise ProtocolError("a malformed error")
        error = {k: _text(error.get(k, ""), f"error.{k}") for k in ("type", "message", "where")}
    check_plain(data["value"])
    return Observation(data["value"], _texts(data["calls"], "calls")[-12:], error, _number(data["seconds"], "seconds"))


_CASE_ID = re.compile(rb'"id": ?"([0-9A-Za-z_/]{1,200})"')


# The key "id" however JSON may spell it (each letter itself or a \\u escape, white space before the colon).
# Inside a JSON string a quote is escaped, so this matches keys only (and, at worst, makes a line look forged).
_ID_KEY = re.compile(rb'"(?:i|\\u0069)(?:d|\\u0064)"[ \t\r\n]*:')


def peek_case_id(line: bytes) -> str | None:
    """The case id a result line claims, read from its first bytes without decoding it (None: no id there).

    None too when the line holds the key "id" more than once (json keeps the last one,
    this would read the first): a line must not borrow another case's budget.
    """
    found = _CASE_ID.search(line, 0, 400)
    if not found or len(_ID_KEY.findall(line)) != 1:
        return None
    return found.group(1).decode()


def read_result_line(line: bytes, notebooks: set[str], case_ids: set[str], budgets: dict[str, int] | None = None) -> Status | CaseResult | Loaded | Begin | Done:
    """One line of a child's result stream, checked; raises ProtocolError.

    ``budgets``: case id -> the most bytes a result for it may have (a multiple of the
    reference's size). A line over its case's budget, or over MAX_LINE_BYTES, is refused
    before it is decoded: decoded, a line of tiny values costs the grader 20 times its size.
    """
    if len(line) > MAX_LINE_BYTES:
        raise ProtocolError("a result line that is too long")
    claimed = None
    if budgets is not None and len(line) > 4096:
        claimed = peek_case_id(line)
        if claimed not in case_ids:  # a case of another job (a hidden one, in the visible phase) lends no budget either
            claimed = None
        if len(line) > budgets.get(claimed, min(budgets.values(), default=MAX_LINE_BYTES)):
            raise ProtocolError("a result far larger than the expected one (arrays of the wrong size?); it was not read")
    try:
        data = json.loads(line)
    except RecursionError:
        raise ProtocolError("a result line nested too deeply") from None
    except ValueError:
        raise ProtocolError("a result line that is not JSON") from None
    if not isinstance(data, dict):
        raise ProtocolError("a result line that is not an object")
    kind = data.get("kind")
    if kind == "CaseResult":
        case_id = data.get("id")
        if not isinstance(case_id, str) or case_id not in case_ids:
            raise ProtocolError("a result for a case that is not part of this job")
        if claimed is not None and case_id != claimed:
            raise ProtocolError("a result whose case id is not the one it starts with")
        return CaseResult(case_id, _observation(data.get("obs")))
    if kind == "Loaded":
        return Loaded()
    notebook = data.get("notebook")
    if not isinstance(notebook, str) or notebook not in notebooks:
        raise ProtocolError("a message about a notebook that is not part of this job")
    if kind == "Done":
        return Done(notebook)
    if kind == "Begin":
        return Begin(notebook)
    if kind == "Status":
        if not isinstance(data.get("invalid", False), bool):
            raise ProtocolError("a malformed status")
        return Status(
            notebook,
            _texts(data.get("problems", []), "problems"),
            _texts(data.get("load_errors", []), "load_errors"),
            _texts(data.get("definitions", []), "definitions"),
            data.get("invalid", False),
        )
    raise ProtocolError("an unknown message kind")
