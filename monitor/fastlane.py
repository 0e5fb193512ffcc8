"""The fast lane of the native JSON decoder: typed structs per model, straight into columns.

Most records are complete, well-formed events of a configured model. For those, msgspec
decodes into a struct generated from the model's declared features (numbers must be
numbers, categories strings, no undeclared keys), which validates in C and is several
times faster than decoding into dictionaries. The columns every later stage needs (drift
windows, guardrails, required-feature checks) are then extracted once per batch.

Anything the fast lane does not accept (another model, a split event, a label, an
undeclared feature, a non-string category, any error at all) takes the general path in
:mod:`monitor.decoder`, which gives the precise dead-letter reason; so both lanes reach the
same outcome for every record, the fast one only sooner.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import chain
from operator import attrgetter, itemgetter
from typing import Annotated, Any

import msgspec
import numpy as np
from msgspec import UNSET, UnsetType
from msgspec.structs import astuple

from monitor.config import InputLimits, ModelConfig

_ATTRIBUTES: dict[type, dict[str, str]] = {}


class FastValues(msgspec.Struct, gc=False, forbid_unknown_fields=True, omit_defaults=True):
    """Read like the dictionary the general path would have produced (absent keys are
    ``UNSET`` and read as missing), without building one per event."""

    def get(self, key: str, default: Any = None) -> Any:
        attribute = _ATTRIBUTES[type(self)].get(key)
        if attribute is None:
            return default
        value = getattr(self, attribute)
        return default if value is UNSET else value

    def __getitem__(self, key: str) -> Any:
        value = self.get(key, UNSET)
        if value is UNSET:
            raise KeyError(key)
        return value

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self.get(key, UNSET) is not UNSET

    def keys(self) -> Iterator[str]:
        for name, attribute in _ATTRIBUTES[type(self)].items():
            if getattr(self, attribute) is not UNSET:
                yield name

    def __iter__(self) -> Iterator[str]:
        return self.keys()

    def __len__(self) -> int:
        return sum(1 for _ in self.keys())

    def items(self) -> Iterator[tuple[str, Any]]:
        for name in self.keys():
            yield name, self[name]

    def to_dict(self) -> dict[str, Any]:
        return dict(self.items())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, FastValues | dict):
            return self.to_dict() == dict(other.items())
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]


def _values_struct(name: str, fields: list[tuple[str, Any]]) -> type[FastValues]:
    attributes = [f"v{i}" for i in range(len(fields))]
    struct = msgspec.defstruct(
        name,
        [
            (a, typ | None | UnsetType, UNSET)
            for a, (_, typ) in zip(attributes, fields, strict=True)
        ],
        bases=(FastValues,),
        rename={a: key for a, (key, _) in zip(attributes, fields, strict=True)},
        gc=False,
    )
    _ATTRIBUTES[struct] = {key: a for a, (key, _) in zip(attributes, fields, strict=True)}
    return struct  # type: ignore[return-value]


PredictionValues = _values_struct(
    "PredictionValues", [("score", float), ("label", float | str | bool)]
)


class ColumnBatch:
    """Columns of the fast-lane events of one model in one batch; events point at a row.

    Once the decoder has built the events, it attaches them (``None`` at rejected rows)
    with the columns of their envelope: id, time, partition, offset and version. A stage
    handed exactly that list of events reads those columns instead of every event
    (see :mod:`monitor.event_columns`).
    """

    __slots__ = (
        "categorical",
        "events",
        "ids",
        "label",
        "numeric",
        "offset",
        "partition",
        "score",
        "ts",
        "version",
    )

    def __init__(
        self,
        numeric: dict[str, np.ndarray],
        categorical: dict[str, list[str | None]],
        score: np.ndarray,
        label: list[Any],
    ) -> None:
        self.numeric = numeric
        self.categorical = categorical
        self.score = score
        self.label = label
        self.events: list[Any] | None = None
        self.ids: Sequence[str] = ()
        self.ts = self.partition = self.offset = np.empty(0)
        self.version: list[str | None] = []

    def attach(
        self,
        events: list[Any],
        ids: Sequence[str],
        ts: np.ndarray,
        partition: np.ndarray,
        offset: np.ndarray,
        version: list[str | None],
    ) -> None:
        self.events, self.ids, self.ts = events, ids, ts
        self.partition, self.offset, self.version = partition, offset, version


class ModelLane:
    """The fast-lane decoder of one model."""

    def __init__(self, index: int, model: str, config: ModelConfig, limits: InputLimits) -> None:
        self.model = model
        self.numeric = [n for n, f in config.features.items() if f.type == "numeric"]
        self.categorical = [n for n, f in config.features.items() if f.type == "categorical"]
        self.required = [n for n, f in config.features.items() if f.required]
        # The length limits are checked by msgspec while it decodes, instead of in a pass
        # over the batch's strings afterwards; a record that breaks one takes the general
        # path, which names it.
        category = Annotated[str, msgspec.Meta(max_length=limits.max_category_length)]
        event_id = Annotated[str, msgspec.Meta(min_length=1, max_length=limits.max_id_length)]
        fields = [(n, float) for n in self.numeric] + [(n, category) for n in self.categorical]
        self.features_type = _values_struct(f"Features{index}", fields)
        # A row's values come out as one tuple in C (the struct's fields are the numeric
        # features, then the categorical ones); numpy reads the numeric parts of all rows
        # in one pass. The few categorical columns are read with a getter each, in C.
        self._numeric_part = itemgetter(slice(0, len(self.numeric)))
        attributes = _ATTRIBUTES[self.features_type]
        self._categorical_fields = [attrgetter(attributes[n]) for n in self.categorical]
        self.event_type = msgspec.defstruct(
            f"FastEvent{index}",
            [
                ("id", event_id),
                ("features", self.features_type),
                ("prediction", PredictionValues),
                ("ts", float | str | None, None),
                ("version", str | int | None, None),
                ("attributes", dict[str, float | str | bool | None] | None, None),
            ],
            tag_field="model",
            tag=model,
            gc=False,
            # Any other key (a top-level ``label``, say) takes the general path, which
            # knows what it means and what makes it invalid.
            forbid_unknown_fields=True,
        )

    def unpack(self, raws: Sequence[Any]) -> LaneBatch:
        """Every field of every event, read in one C-level pass over the structs (each
        further pass over thousands of structs costs cache misses of its own)."""
        if not raws:
            return LaneBatch((), (), (), (), (), (), self.columns((), ()))
        ids, features, predictions, stamps, versions, attributes = zip(
            *map(astuple, raws), strict=True
        )
        columns = self.columns(features, predictions)
        return LaneBatch(ids, stamps, versions, features, predictions, attributes, columns)

    def columns(self, features: Sequence[Any], predictions: Sequence[Any]) -> ColumnBatch:
        n, width = len(features), len(self.numeric)
        numeric: dict[str, np.ndarray] = {}
        if width:
            # Row by row into numpy, each row's tuples freed as soon as read: a list of
            # every row's tuple went over the batch's values twice more, and its thousands
            # of tracked tuples made any garbage collection in between costly.
            values = chain.from_iterable(map(self._numeric_part, map(astuple, features)))
            try:
                flat = np.fromiter(values, np.float64, n * width)
            except TypeError:  # null (None) or absent (UNSET) among them
                rows = [_present(list(self._numeric_part(astuple(f)))) for f in features]
                flat = np.array(rows, dtype=np.float64)
            # Row-major rows in, contiguous columns out: windows and tests read columns.
            by_column = np.ascontiguousarray(flat.reshape(n, width).T)
            numeric = dict(zip(self.numeric, by_column, strict=True))
        categorical = {
            name: _present(list(map(field, features)))
            for name, field in zip(self.categorical, self._categorical_fields, strict=True)
        }
        scores = _floats(list(map(_score_of, predictions)))
        labels = _present(list(map(_label_of, predictions)))
        return ColumnBatch(numeric, categorical, scores, labels)


@dataclass(slots=True)
class LaneBatch:
    """The fields of one batch of fast-lane events, as tuples in event order."""

    ids: Sequence[str]
    stamps: Sequence[Any]
    versions: Sequence[Any]
    features: Sequence[Any]
    predictions: Sequence[Any]
    attributes: Sequence[Any]
    columns: ColumnBatch


def fast_rows(events: Sequence[Any]) -> tuple[ColumnBatch, np.ndarray | slice] | None:
    """The column batch all ``events`` come from and their rows in it, or None."""
    if not events:
        return None
    columns = events[0].columns
    if columns is None:
        return None
    # The list the decoder built: compared by identity, without reading the events.
    if columns.events == events:
        return columns, slice(None)
    if len(set(map(_columns_of, events))) != 1:
        return None
    n = len(events)
    rows = np.fromiter(map(_row_of, events), np.intp, n)
    if len(columns.score) == n and (rows == np.arange(n)).all():
        return columns, slice(None)  # the whole batch, in order: no copy
    return columns, rows


_columns_of = attrgetter("columns")
_score_of = attrgetter(_ATTRIBUTES[PredictionValues]["score"])
_label_of = attrgetter(_ATTRIBUTES[PredictionValues]["label"])
_row_of = attrgetter("row")


def pick(values: list[Any], rows: np.ndarray | slice) -> list[Any]:
    if isinstance(rows, slice):
        return values
    return [values[i] for i in rows.tolist()]


def _floats(values: list[Any]) -> np.ndarray:
    try:
        return np.array(values, dtype=np.float64)
    except TypeError:  # UNSET (absent) among them
        return np.array(_present(values), dtype=np.float64)


def _present(values: list[Any]) -> list[Any]:
    """Absent (UNSET) as None, like a dictionary's ``get``."""
    if UNSET not in values:
        return values
    return [None if v is UNSET else v for v in values]


class FastLane:
    """Decoders of every configured model: a tagged union on ``model``."""

    def __init__(self, models: dict[str, ModelConfig], limits: InputLimits) -> None:
        self.lanes = {m: ModelLane(i, m, c, limits) for i, (m, c) in enumerate(models.items())}
        types = tuple(lane.event_type for lane in self.lanes.values())
        self._by_type = {lane.event_type: lane for lane in self.lanes.values()}
        target: Any = types[0] if len(types) == 1 else types  # msgspec takes a Union
        if len(types) > 1:
            from typing import Union  # noqa: PLC0415 - built once, for a dynamic union

            target = Union[types]  # noqa: UP007 - the members are runtime types
        self._decoder = msgspec.json.Decoder(target)

    def decode(self, value: bytes) -> Any | None:
        """The typed event, or None when the general path must look at the record."""
        try:
            return self._decoder.decode(value)
        except Exception:
            return None

    def decode_all(self, values: Sequence[bytes]) -> tuple[list[Any], list[int]]:
        """``decode`` of every value, and the indices of those that gave None."""
        decode = self._decoder.decode
        raws: list[Any] = []
        failed: list[int] = []
        rest = iter(values)
        while True:
            # The loop runs in C (a Python loop with a try per record cost more than the
            # decoding). ``extend`` keeps what it appended before an error, and ``map``
            # has taken the failing value from ``rest``: go on after it.
            try:
                raws.extend(map(decode, rest))
                return raws, failed
            except Exception:
                failed.append(len(raws))
                raws.append(None)

    def lane_of(self, kind: type) -> ModelLane:
        return self._by_type[kind]
