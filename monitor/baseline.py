"""Build a reference profile from a training or validation data file, in chunks.

Formats come from the file suffix: ``.csv`` (comma-separated, header row, UTF-8), ``.jsonl``/
``.ndjson`` (one flat JSON object per line), both optionally ``.gz``, and ``.parquet``/``.pq``
(read by row batches; needs pyarrow: ``pip install driftd[parquet]``).

Missing values: null/absent keys (JSONL), nulls (Parquet), empty cells (CSV; CSV cannot tell an
empty string from a missing value), and in numeric CSV columns also ``NA``, ``N/A``, ``NaN``,
``null``, ``None`` and ``#N/A``. Non-finite numbers count as missing.

Column kinds come from ``kinds`` (with a config: the model's features; only those and the score
column are profiled) or are inferred from the first chunk of ``chunk_rows`` rows:

* a column whose non-missing values are all numbers is numeric: in CSV, text that parses as a
  float; in JSONL and Parquet, numbers (JSON strings are never numbers, as in the daemon);
* everything else is categorical, including booleans (``"true"``/``"false"``);
* integer-coded columns stay numeric whatever their number of distinct values: the daemon sees
  them as numbers too. Declare them ``categorical`` in the config to monitor them as codes;
* columns without any value in the first chunk, nested JSON values and Parquet types other than
  numbers, booleans and strings are left out.

A later value that contradicts an inferred kind (text in a numeric column) is an error that
names the column and row; declaring the features with a config avoids the guess.
"""

from __future__ import annotations

import csv
import gzip
import io
import itertools
from collections.abc import Generator, Iterator, Mapping, Sequence
from contextlib import ExitStack, closing, contextmanager
from pathlib import Path
from typing import IO, Any, cast

import msgspec
import numpy as np
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)

from monitor.errors import ProfileError
from monitor.profile import Kind, Profile
from monitor.profile_builder import ProfileBuilder

SUFFIXES = {
    ".csv": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
}
CSV_MISSING = frozenset({"", "NA", "N/A", "NaN", "nan", "null", "NULL", "None", "#N/A"})
_LISTED_COLUMNS = 20


def input_format(path: str | Path) -> tuple[str, bool]:
    """``(format, gzipped)`` from the suffix of ``path``."""
    suffixes = [s.lower() for s in Path(path).suffixes[-2:]]
    gzipped = bool(suffixes) and suffixes[-1] == ".gz"
    fmt = SUFFIXES.get(suffixes[-2] if gzipped and len(suffixes) == 2 else suffixes[-1], "")
    if not fmt or (gzipped and fmt == "parquet"):
        raise ProfileError(
            f"{path}: unknown input format; use .csv, .jsonl or .ndjson (each optionally .gz), "
            ".parquet or .pq"
        )
    return fmt, gzipped


def _names(columns: Sequence[str]) -> str:
    shown = ", ".join(columns[:_LISTED_COLUMNS])
    return shown + (", ..." if len(columns) > _LISTED_COLUMNS else "")


def _check_present(wanted: Sequence[str] | None, columns: Sequence[str]) -> None:
    absent = [name for name in wanted or () if name not in columns]
    if absent:
        raise ProfileError(
            f"no column {', '.join(map(repr, absent))} (the file has: {_names(columns)})"
        )


class _Reader:
    """Chunks of columns; ``position()`` out of ``total`` is the progress (bytes or rows)."""

    total: int | None = None
    counts_bytes = False  # else rows
    columns: list[str]

    def position(self) -> int:
        raise NotImplementedError

    def chunks(self) -> Generator[dict[str, Any]]:
        raise NotImplementedError


class _TextReader(_Reader):
    """CSV or JSONL, plain or gzipped; progress is the position in the (compressed) file."""

    def __init__(self, path: Path, gzipped: bool, wanted: Sequence[str] | None, chunk_rows: int):
        self.path, self.gzipped, self.chunk_rows = path, gzipped, chunk_rows
        self.wanted = list(wanted) if wanted is not None else None
        self.columns = []
        self.total = path.stat().st_size
        self.counts_bytes = True
        self._raw: IO[bytes] | None = None

    def position(self) -> int:
        return self._raw.tell() if self._raw is not None and not self._raw.closed else 0

    @contextmanager
    def _open(self) -> Iterator[IO[bytes]]:
        with ExitStack() as stack:
            self._raw = stack.enter_context(open(self.path, "rb"))
            if not self.gzipped:
                yield self._raw
                return
            # GzipFile does not close the file it reads from: the stack closes both.
            unzipped = stack.enter_context(gzip.GzipFile(fileobj=self._raw))
            yield cast(IO[bytes], unzipped)  # typeshed's GzipFile is no IO[bytes]; it is one


class _CsvReader(_TextReader):
    def chunks(self) -> Generator[dict[str, Any]]:
        with self._open() as binary, io.TextIOWrapper(binary, "utf-8-sig", newline="") as text:
            rows = csv.reader(text)
            self.columns = next(rows, [])
            if not self.columns:
                raise ProfileError("the file is empty (no header row)")
            if len(set(self.columns)) != len(self.columns):
                raise ProfileError("the header names a column twice")
            _check_present(self.wanted, self.columns)
            index = {name: i for i, name in enumerate(self.columns)}
            width, first_row = len(self.columns), 1
            while block := list(itertools.islice(rows, self.chunk_rows)):
                bad = next((i for i, row in enumerate(block) if len(row) != width), None)
                if bad is not None:
                    fields = len(block[bad])
                    raise ProfileError(f"row {first_row + bad} has {fields} fields, not {width}")
                first_row += len(block)
                # CSV cannot tell an empty string from a missing value: empty is missing.
                yield {
                    name: [row[index[name]] or None for row in block]
                    for name in self.wanted or self.columns
                }


class _JsonlReader(_TextReader):
    def chunks(self) -> Generator[dict[str, Any]]:
        with self._open() as binary:
            lines_before = 0
            while lines := list(itertools.islice(binary, self.chunk_rows)):
                records = _decode_lines(lines, lines_before)
                lines_before += len(lines)
                if not records:
                    continue
                if not self.columns:
                    keys = dict.fromkeys(key for record in records for key in record)
                    self.columns = self.wanted or list(keys)
                yield {name: [record.get(name) for record in records] for name in self.columns}


def _decode_lines(lines: list[bytes], lines_before: int) -> list[dict[str, Any]]:
    present = [line for line in lines if line.strip()]
    try:
        # One decode call per chunk: msgspec parses the whole array in C.
        records = msgspec.json.decode(b"[" + b",".join(present) + b"]")
        if len(records) == len(present) and all(isinstance(r, dict) for r in records):
            return records
    except msgspec.DecodeError:
        pass
    for number, line in enumerate(lines, lines_before + 1):  # find the culprit to name it
        if not line.strip():
            continue
        try:
            record = msgspec.json.decode(line)
        except msgspec.DecodeError as exc:
            raise ProfileError(f"line {number} is not valid JSON: {exc}") from None
        if not isinstance(record, dict):
            raise ProfileError(f"line {number} is not a JSON object")
    raise ProfileError(f"lines {lines_before + 1}-{lines_before + len(lines)}: invalid JSON")


class _ParquetReader(_Reader):
    def __init__(self, path: Path, wanted: Sequence[str] | None, chunk_rows: int):
        pa = _pyarrow()
        try:
            self.file = pa.parquet.ParquetFile(path)
        except (pa.ArrowInvalid, ValueError) as exc:  # ArrowInvalid: not Parquet data
            raise ProfileError(f"not a readable Parquet file: {exc}") from None
        schema = self.file.schema_arrow
        self.columns = [name for name in schema.names if _profilable(schema.field(name).type)]
        _check_present(wanted, schema.names)
        unsupported = [name for name in wanted or () if name not in self.columns]
        if unsupported:
            described = ", ".join(f"{n!r} ({schema.field(n).type})" for n in unsupported)
            raise ProfileError(f"column {described}: not numbers, booleans or text")
        self.wanted = list(wanted or self.columns)
        self.chunk_rows = chunk_rows
        self.total = self.file.metadata.num_rows
        self._rows = 0

    def position(self) -> int:
        return self._rows

    def chunks(self) -> Generator[dict[str, Any]]:
        pa = _pyarrow()
        for batch in self.file.iter_batches(batch_size=self.chunk_rows, columns=self.wanted):
            self._rows += batch.num_rows
            chunk: dict[str, Any] = {}
            for name, column in zip(batch.schema.names, batch.columns, strict=True):
                if _is_number_type(column.type):
                    # Nulls become NaN; unsafe: int64 beyond 2**53 rounds, as JSON numbers do.
                    as_float = pa.compute.cast(column, pa.float64(), safe=False)
                    chunk[name] = as_float.to_numpy(zero_copy_only=False)
                else:
                    chunk[name] = column.to_pylist()
            yield chunk


def _pyarrow() -> Any:
    """pyarrow with its compute and parquet modules, imported when Parquet input needs it."""
    try:
        import pyarrow  # noqa: PLC0415 - optional: only Parquet input needs it
        import pyarrow.compute  # noqa: PLC0415
        import pyarrow.parquet  # noqa: PLC0415
    except ImportError:
        raise ProfileError("reading Parquet needs pyarrow: pip install 'driftd[parquet]'") from None
    return pyarrow


def _is_number_type(arrow_type: Any) -> bool:
    t = _pyarrow().types
    return bool(t.is_integer(arrow_type) or t.is_floating(arrow_type) or t.is_decimal(arrow_type))


def _profilable(arrow_type: Any) -> bool:
    t = _pyarrow().types
    if t.is_dictionary(arrow_type):
        arrow_type = arrow_type.value_type
    text = t.is_string(arrow_type) or t.is_large_string(arrow_type)
    return _is_number_type(arrow_type) or t.is_boolean(arrow_type) or text or t.is_null(arrow_type)


def _open_reader(
    path: Path, fmt: str, gzipped: bool, wanted: Sequence[str] | None, chunk_rows: int
) -> _Reader:
    if fmt == "parquet":
        return _ParquetReader(path, wanted, chunk_rows)
    reader = _CsvReader if fmt == "csv" else _JsonlReader
    return reader(path, gzipped, wanted, chunk_rows)


@contextmanager
def _errors_named(path: Path) -> Iterator[None]:
    """Turn every way reading can fail into one ProfileError line that names the file."""
    try:
        yield
    except (csv.Error, EOFError, gzip.BadGzipFile) as exc:  # BadGzipFile is an OSError
        raise ProfileError(f"{path}: malformed or truncated file: {exc}") from None
    except OSError as exc:
        raise ProfileError(f"cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ProfileError(f"{path}: not UTF-8 text") from None
    except ProfileError as exc:
        raise ProfileError(f"{path}: {exc}") from None


def input_columns(path: str | Path) -> list[str]:
    """The profilable columns of a data file (for JSONL: the keys of its first chunk)."""
    path = Path(path)
    fmt, gzipped = input_format(path)
    with _errors_named(path):
        reader = _open_reader(path, fmt, gzipped, None, 1000)
        with closing(reader.chunks()) as chunks:
            next(chunks, None)
        return reader.columns


def infer_kinds(columns: Mapping[str, Any], *, from_text: bool) -> dict[str, Kind]:
    """Kinds of one chunk's columns (see the module docstring); unknowable ones are left out."""
    kinds: dict[str, Kind] = {}
    for name, values in columns.items():
        if isinstance(values, np.ndarray) and values.dtype.kind != "O":
            if values.dtype.kind == "b":
                kinds[name] = "categorical"
            elif np.isfinite(values).any():
                kinds[name] = "numeric"
            continue
        present = [v for v in values if v is not None and not (from_text and v in CSV_MISSING)]
        if not present or any(isinstance(v, dict | list) for v in present):
            continue
        if from_text:
            try:
                np.array(present, dtype=np.float64)
                numeric = True
            except ValueError:
                numeric = False
        else:
            numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in present)
        kinds[name] = "numeric" if numeric else "categorical"
    return kinds


def _progress_bar(enabled: bool, label: str, reader: _Reader) -> Progress:
    """Rows read, and bytes of the file for CSV/JSONL; on stderr, and only on a terminal."""
    console = Console(stderr=True)
    bar = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        *([DownloadColumn()] if reader.counts_bytes else []),
        TextColumn("{task.fields[rows]:,} rows"),
        TimeElapsedColumn(),
        console=console,
        disable=not (enabled and console.is_terminal),
    )
    bar.add_task(label, total=reader.total, rows=0)
    return bar


def build_profile_from_file(
    path: str | Path,
    model: str,
    model_version: str | None = None,
    kinds: Mapping[str, Kind] | None = None,
    score_column: str | None = None,
    *,
    sample_size: int = 10_000,
    bins: int = 10,
    seed: int = 0,
    max_categories: int = 1000,
    chunk_rows: int = 100_000,
    progress: bool = True,
) -> Profile:
    """Profile a data file: ``kinds`` columns (inferred when None) and ``score_column``.

    Every problem with the file is a one-line :class:`ProfileError` that names it.
    """
    path = Path(path)
    fmt, gzipped = input_format(path)
    if score_column is not None and kinds is not None and score_column in kinds:
        raise ProfileError(f"score column {score_column!r} is also declared as a feature")
    score = [score_column] if score_column is not None else []
    wanted = None if kinds is None else [*kinds, *score]
    inferred = kinds is None
    with _errors_named(path):
        reader = _open_reader(path, fmt, gzipped, wanted, chunk_rows)
        with (
            _progress_bar(progress, path.name, reader) as bar,
            closing(reader.chunks()) as chunks,
        ):
            first = next(chunks, None)
            if first is None:
                raise ProfileError("no data rows")
            _check_present(score, list(first))
            if kinds is None:
                candidates = {n: v for n, v in first.items() if n not in score}
                kinds = infer_kinds(candidates, from_text=fmt == "csv")
                if not kinds:
                    raise ProfileError("no column with values to profile in the first rows")
            builder = ProfileBuilder(
                model,
                model_version,
                kinds,
                score_column,
                sample_size=sample_size,
                bins=bins,
                seed=seed,
                max_categories=max_categories,
            )
            numeric = [n for n, kind in kinds.items() if kind == "numeric"] + score
            for chunk in itertools.chain([first], chunks):
                if fmt == "csv":  # NA spellings are missing numbers, but may be categories
                    for name in numeric:
                        chunk[name] = [None if v in CSV_MISSING else v for v in chunk[name]]
                try:
                    builder.update(chunk)
                except ProfileError as exc:
                    if not inferred:
                        raise
                    hint = "its kind was inferred from the first rows: declare it with -c CONFIG"
                    raise ProfileError(f"{exc} ({hint})") from None
                bar.update(bar.task_ids[0], completed=reader.position(), rows=builder.rows)
        return builder.finish(source_path=path.name, source_format=fmt)
