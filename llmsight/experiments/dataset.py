"""Read an evaluation dataset (JSON lines or CSV) into rows the experiment runner can use.

A row has a ``question`` and, optionally, an ``id``, ``context`` (a list of documents, or one
string), a ``ground_truth`` and an already-produced ``answer``. Other columns ride along in
``extra`` (a target function may ask for them by name). ``--map question=input,...`` names the
file's columns for these fields, as Azure's ``data_column_names`` does.

Every mistake is a ``DatasetError`` naming the file, the row (and line) and the column, raised
before any row is run: a bad row found halfway through a paid run would waste the first half.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FIELDS = ("id", "question", "context", "ground_truth", "answer")
MAX_ROWS = 100_000
MAX_CSV_CELL = 16 << 20  # a long context document in one cell: Python's csv stops at 128 KiB by default


class DatasetError(ValueError):
    """The dataset cannot be used; the message names the file, row and column."""


@dataclass(frozen=True)
class DatasetRow:
    id: str
    question: str
    context: tuple[str, ...] = ()
    ground_truth: str = ""
    answer: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """The row as the file format writes it (``llmsight dataset export`` writes the same keys)."""
        out: dict[str, Any] = {"id": self.id, "question": self.question}
        if self.context:
            out["context"] = list(self.context)
        if self.ground_truth:
            out["ground_truth"] = self.ground_truth
        if self.answer:
            out["answer"] = self.answer
        return out


@dataclass(frozen=True)
class Dataset:
    path: Path
    rows: tuple[DatasetRow, ...]
    hash: str  # of the rows as read (after mapping): the same rows give the same hash in JSONL or CSV

    def __len__(self) -> int:
        return len(self.rows)


def parse_mapping(spec: str | None) -> dict[str, str]:
    """``"question=input,ground_truth=expected"`` -> {field: column}; an unknown field is an error."""
    mapping: dict[str, str] = {}
    for part in (spec or "").split(","):
        if not part.strip():
            continue
        name, sep, column = part.partition("=")
        name, column = name.strip(), column.strip()
        if not sep or not name or not column:
            raise DatasetError(f"--map {part.strip()!r}: use FIELD=COLUMN, e.g. question=input")
        if name not in FIELDS:
            raise DatasetError(f"--map: unknown mapped name {name!r}; use {', '.join(FIELDS)}")
        if name in mapping:
            raise DatasetError(f"--map: {name} is mapped twice")
        mapping[name] = column
    return mapping


def _records(path: Path) -> Iterator[tuple[str, int, dict[str, Any]]]:
    """(where, line, record) for each data row; ``where`` reads "row N (line L)"."""
    suffix = path.suffix.lower()
    try:
        handle = path.open(encoding="utf-8-sig", newline="")
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read: {exc.strerror or exc}") from None
    with handle:
        try:
            if suffix == ".json" and _first_character(handle) == "[":
                yield from _json_array(path, handle)
            elif suffix in (".jsonl", ".ndjson", ".json"):
                handle.seek(0)
                number = 0
                for line_no, line in enumerate(handle, start=1):
                    if not line.strip():
                        continue
                    number += 1
                    where = f"row {number} (line {line_no})"
                    try:
                        record = json.loads(line)
                    except ValueError as exc:
                        raise DatasetError(f"{path}, {where}: not valid JSON: {exc}") from None
                    if not isinstance(record, dict):
                        raise DatasetError(f"{path}, {where}: expected a JSON object, got {type(record).__name__}")
                    yield where, line_no, record
            elif suffix in (".csv", ".tsv"):
                csv.field_size_limit(max(csv.field_size_limit(), MAX_CSV_CELL))
                reader = csv.DictReader(handle, delimiter="\t" if suffix == ".tsv" else ",")
                if not reader.fieldnames:
                    raise DatasetError(f"{path}: no header row")
                for number, record in enumerate(reader, start=1):
                    where = f"row {number} (line {reader.line_num})"
                    if None in record:  # more cells than the header has columns
                        raise DatasetError(f"{path}, {where}: more values than the header's {len(reader.fieldnames)}")
                    yield where, reader.line_num, {k: _cell(v) for k, v in record.items() if v is not None}
            else:
                raise DatasetError(f"{path}: unknown format {suffix or '(no extension)'}; use .jsonl or .csv")
        except UnicodeDecodeError as exc:
            raise DatasetError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
        except csv.Error as exc:
            raise DatasetError(f"{path}: not valid CSV: {exc}") from None


def _cell(value: str) -> Any:
    """A CSV cell holding a JSON object or array (as ``write_dataset`` writes lists and dicts) as that value, so a
    row reads the same from CSV as from JSON lines."""
    stripped = value.strip()
    if stripped[:1] in ("{", "["):
        try:
            return json.loads(stripped)
        except ValueError:
            return value
    return value


def _first_character(handle: Any) -> str:
    """The first character that is not white space (how a JSON array tells itself from JSON lines)."""
    while chunk := handle.read(4096):
        stripped = chunk.lstrip()
        if stripped:
            return stripped[0]
    return ""


def _json_array(path: Path, handle: Any) -> Iterator[tuple[str, int, dict[str, Any]]]:
    """A ``.json`` file holding one array of row objects (JSON lines are the other ``.json`` kind)."""
    handle.seek(0)
    try:
        items = json.load(handle)
    except ValueError as exc:
        raise DatasetError(f"{path}: not valid JSON: {exc}") from None
    for number, record in enumerate(items, start=1):
        where = f"row {number} (item {number} of the array)"
        if not isinstance(record, dict):
            raise DatasetError(f"{path}, {where}: expected a JSON object, got {type(record).__name__}")
        yield where, number, record


def _text(value: Any, where: str, column: str) -> str:
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise DatasetError(f"{where}, column {column!r}: expected text, got {type(value).__name__}")
    return str(value)


def _context(value: Any, where: str, column: str) -> tuple[str, ...]:
    """A list of documents (strings, or objects with ``content``/``text``), or one string: a JSON array
    in a CSV cell is read as the list."""
    if value is None or value == "":
        return ()
    if isinstance(value, str):
        stripped = value.strip()
        if stripped.startswith("["):
            try:
                value = json.loads(stripped)
            except ValueError:
                return (value,)
        else:
            return (value,)
    if isinstance(value, list):
        docs = []
        for i, doc in enumerate(value):
            if isinstance(doc, dict):
                doc = doc.get("content") or doc.get("text") or doc.get("page_content")
            if not isinstance(doc, str):
                raise DatasetError(f"{where}, column {column!r}: document {i} is not text")
            if doc.strip():
                docs.append(doc)
        return tuple(docs)
    raise DatasetError(f"{where}, column {column!r}: expected a list of documents or text, got {type(value).__name__}")


def load_dataset(path: str | Path, mapping: Mapping[str, str] | str | None = None) -> Dataset:
    """Read and check every row; ``mapping`` is {field: column} or the ``--map`` text."""
    path = Path(path)
    columns = parse_mapping(mapping) if isinstance(mapping, str) or mapping is None else dict(mapping)
    source = {name: columns.get(name, name) for name in FIELDS}
    rows: list[DatasetRow] = []
    seen: dict[str, str] = {}
    mapped_seen: set[str] = set()
    for where_row, _line, record in _records(path):
        where = f"{path}, {where_row}"
        if len(rows) >= MAX_ROWS:
            raise DatasetError(f"{path}: more than {MAX_ROWS:,} rows; split it")
        mapped_seen.update(c for c in columns.values() if c in record)
        question_col = source["question"]
        if question_col not in record:
            known = ", ".join(repr(k) for k in record) or "none"
            hint = "" if "question" in columns else "; name yours with --map question=COLUMN"
            raise DatasetError(f"{where}, column {question_col!r} (question): missing (columns here: {known}){hint}")
        question = _text(record[question_col], where, question_col)
        if not question.strip():
            raise DatasetError(f"{where}, column {question_col!r} (question): empty")
        row_id = _text(record.get(source["id"]), where, source["id"]).strip() or f"row-{len(rows) + 1}"
        if row_id in seen:
            raise DatasetError(f"{where}, column {source['id']!r}: id {row_id!r} is also {seen[row_id]}")
        seen[row_id] = where_row
        used = set(source.values())
        rows.append(
            DatasetRow(
                id=row_id,
                question=question,
                context=_context(record.get(source["context"]), where, source["context"]),
                ground_truth=_text(record.get(source["ground_truth"]), where, source["ground_truth"]),
                answer=_text(record.get(source["answer"]), where, source["answer"]),
                extra={k: v for k, v in record.items() if k not in used},
            )
        )
    if not rows:
        raise DatasetError(f"{path}: no rows")
    unseen = {name: col for name, col in columns.items() if col not in mapped_seen}
    if unseen:
        named = ", ".join(f"{name}={col}" for name, col in unseen.items())
        raise DatasetError(f"{path}: --map {named}: no row has column(s) {', '.join(map(repr, unseen.values()))}")
    digest = hashlib.sha256()
    for row in rows:
        # extra columns too: they reach the target, so changing one is another dataset
        hashed = {**row.as_dict(), **({"extra": dict(row.extra)} if row.extra else {})}
        digest.update(json.dumps(hashed, sort_keys=True, ensure_ascii=False, default=str).encode())
        digest.update(b"\n")
    return Dataset(path, tuple(rows), digest.hexdigest()[:16])


def write_dataset(path: str | Path, rows: list[dict[str, Any]]) -> None:
    """Write rows (``DatasetRow.as_dict()`` shape plus any extra keys) as JSON lines or CSV, by extension.

    In CSV a row's context list is one cell holding a JSON array, which ``load_dataset`` reads back.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson", ".json"):
        with path.open("w", encoding="utf-8") as handle:
            for row in rows:
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")
        return
    if suffix in (".csv", ".tsv"):
        names = list(dict.fromkeys(k for row in rows for k in row)) or list(FIELDS[:2])
        with path.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=names, delimiter="\t" if suffix == ".tsv" else ",")
            writer.writeheader()
            for row in rows:
                writer.writerow(
                    {k: json.dumps(v, ensure_ascii=False) if isinstance(v, list | dict) else v for k, v in row.items()}
                )
        return
    raise DatasetError(f"{path}: unknown format {suffix or '(no extension)'}; use .jsonl or .csv")
