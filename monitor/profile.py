"""Reference profiles: what ``driftd baseline`` writes and the daemon builds its detectors from.

A profile is one JSON file (``docs/profile-format.md``) holding, per feature, exactly what the
detector constructors need, plus summary statistics for people and explanations.

Numeric features
    ``count``/``missing``/``mean``/``std`` (population, ddof=0)/``min``/``max`` cover ALL rows.
    Missing means null, NaN or ±inf (the daemon never monitors non-finite values). Moments are
    merged from fixed blocks of ``BLOCK_ROWS`` rows (Chan et al.'s pairwise update on per-block
    two-pass moments, float64), so they are accurate for large offsets and do not depend on how
    the input was chunked. A mean or std that overflows float64 is stored as null.
    ``sample`` is a uniform random sample without replacement (at most ``sample_size`` values,
    stored sorted) for ``KSTest``. Every row gets a key from ``np.random.default_rng(seed)``,
    drawn in row order, and the ``sample_size`` non-missing values with the smallest keys are
    kept: a vectorised, mergeable reservoir that is deterministic for a given input order and
    seed. Keys are per row, so the samples of different columns are row-aligned.
    ``quantiles``, ``bin_edges`` and ``bin_proportions`` come from the sample, the bins through
    ``PSITest(sample, bins=bins)`` itself so that profile and detector agree. Sample proportions
    are an unbiased estimate of the training data's; with 10 000 values the standard error of a
    10 % bin is about ``sqrt(0.1 * 0.9 / 10_000) ≈ 0.003``.

Categorical features
    Values are spelled as the daemon spells them (``monitor.events.categorical_value``: booleans
    ``"true"``/``"false"``, integral numbers without ``.0``). ``categories`` are ordered by count
    (descending), then value; category ``i`` has detector code ``i``. The unseen-category bucket
    of the detectors is implicit: code ``K = len(categories)``. Categories beyond
    ``max_categories`` are folded into ``other_count``; at monitoring time their values count as
    unseen, whose reference share is 0, so a feature with a heavy folded tail will look drifted.
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, get_args, get_origin

import msgspec
import numpy as np
from numpy.typing import NDArray

from monitor import __version__
from monitor.config import ModelConfig
from monitor.errors import ProfileError

FORMAT = "driftd.profile"
FORMAT_VERSION = 1
QUANTILES = ("0.01", "0.05", "0.25", "0.5", "0.75", "0.95", "0.99")
_LEVELS = [float(q) for q in QUANTILES]
BLOCK_ROWS = 65_536
# Exact category counts need memory per distinct value; past this a column is an identifier.
MAX_DISTINCT_VALUES = 1_000_000

Kind = Literal["numeric", "categorical"]
Count = Annotated[int, msgspec.Meta(ge=0)]
FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


def _vector(values: Any, dtype: type[np.generic]) -> Any:
    array = np.array(values, dtype=np.float64)
    if array.ndim != 1 or not np.all(np.isfinite(array)):
        raise ValueError("must be a list of finite numbers")
    if dtype is np.int64:
        if np.any(array != np.round(array)) or np.any(array < 0):
            raise ValueError("must be a list of non-negative integers")
        array = array.astype(np.int64)
    array.setflags(write=False)
    return array


@dataclass(frozen=True, eq=False)
class NumericProfile:
    kind: ClassVar[Kind] = "numeric"
    count: Count
    missing: Count
    missing_share: float
    mean: float | None
    std: float | None
    min: float
    max: float
    quantiles: dict[str, float]
    sample: FloatArray
    bin_edges: FloatArray  # inner edges; the outer bins are open-ended
    bin_proportions: FloatArray

    def __post_init__(self) -> None:
        for name in ("sample", "bin_edges", "bin_proportions"):
            object.__setattr__(self, name, _vector(getattr(self, name), np.float64))
        sample = self.sample
        if not 1 <= sample.size <= self.count or np.any(np.diff(sample) < 0):
            raise ValueError("sample: 1 to count values, sorted")
        if not (math.isfinite(self.min) and math.isfinite(self.max) and self.min <= self.max):
            raise ValueError("min and max must be finite with min <= max")
        levels = np.array(list(self.quantiles.values()))
        if tuple(self.quantiles) != QUANTILES or np.any(np.diff(levels) < 0):
            raise ValueError(f"quantiles: increasing, with the keys {', '.join(QUANTILES)}")
        if (
            np.any(np.diff(self.bin_edges) <= 0)
            or self.bin_proportions.size != self.bin_edges.size + 1
        ):
            raise ValueError("bin_edges must increase; bin_proportions has one entry more")
        if abs(self.bin_proportions.sum() - 1.0) > 1e-6:
            raise ValueError("bin_proportions must sum to 1")

    @property
    def psi_edges(self) -> FloatArray:
        """Full edges for ``PSITest(edges=...)``/``JensenShannonTest``: the inner ones and ±inf."""
        return np.concatenate([[-np.inf], self.bin_edges, [np.inf]])

    def __eq__(self, other: object) -> bool:
        return isinstance(other, NumericProfile) and _builtins(self) == _builtins(other)

    __hash__ = None  # type: ignore[assignment]


@dataclass(frozen=True, eq=False)
class CategoricalProfile:
    kind: ClassVar[Kind] = "categorical"
    count: Count
    missing: Count
    missing_share: float
    categories: tuple[str, ...]
    counts: IntArray  # counts[i] belongs to categories[i] (detector code i)
    other_count: Count  # values of categories folded away by max_categories

    def __post_init__(self) -> None:
        object.__setattr__(self, "categories", tuple(self.categories))
        object.__setattr__(self, "counts", _vector(self.counts, np.int64))
        if len(set(self.categories)) != len(self.categories) or not self.categories:
            raise ValueError("categories must be unique and not empty")
        if self.counts.size != len(self.categories) or np.any(np.diff(self.counts) > 0):
            raise ValueError("counts: one per category, in descending order")
        if int(self.counts.sum()) + self.other_count != self.count:
            raise ValueError("counts plus other_count must add up to count")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CategoricalProfile) and _builtins(self) == _builtins(other)

    __hash__ = None  # type: ignore[assignment]


FeatureProfile = NumericProfile | CategoricalProfile


@dataclass(frozen=True)
class ProfileSettings:
    sample_size: int
    bins: int
    seed: int
    max_categories: int


@dataclass(frozen=True)
class ProfileSource:
    path: str | None  # the file name only: a path would leak the builder's directory layout
    format: str | None
    rows: int


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Profile:
    """A model's reference; ``content_hash`` is computed when left empty."""

    model: str
    model_version: str | None
    features: dict[str, FeatureProfile]
    score: NumericProfile | None
    settings: ProfileSettings
    source: ProfileSource
    created_at: str = field(default_factory=_now)
    driftd_version: str = __version__
    content_hash: str = ""

    def __post_init__(self) -> None:
        if not self.content_hash:
            object.__setattr__(self, "content_hash", content_hash(profile_to_dict(self)))


# -- serialisation ------------------------------------------------------------------------------


def _builtins(value: Any) -> Any:
    return msgspec.to_builtins(value, enc_hook=lambda array: array.tolist())


def _feature_dict(feature: FeatureProfile) -> dict[str, Any]:
    return {"kind": feature.kind, **_builtins(feature)}


def profile_to_dict(profile: Profile) -> dict[str, Any]:
    """The JSON document of ``profile`` (``content_hash`` last, as stored)."""
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "model": profile.model,
        "model_version": profile.model_version,
        "created_at": profile.created_at,
        "driftd_version": profile.driftd_version,
        "source": _builtins(profile.source),
        "settings": _builtins(profile.settings),
        "features": {name: _feature_dict(f) for name, f in profile.features.items()},
        "score": None if profile.score is None else _feature_dict(profile.score),
        "content_hash": profile.content_hash,
    }


def content_hash(document: Mapping[str, Any]) -> str:
    """``sha256:`` + hex of the canonical JSON (sorted keys, compact) without ``content_hash``."""
    body = {key: value for key, value in document.items() if key != "content_hash"}
    return "sha256:" + hashlib.sha256(msgspec.json.encode(body, order="sorted")).hexdigest()


def _encode(value: Any) -> str:
    return msgspec.json.encode(value).decode()


def save_profile(profile: Profile, path: str | Path) -> None:
    """Write atomically: one top-level field per line and one feature per line (diffable)."""
    path = Path(path)
    lines = []
    for key, value in profile_to_dict(profile).items():
        if key == "features" and value:
            inner = ",\n".join(f"    {_encode(n)}: {_encode(f)}" for n, f in value.items())
            lines.append(f'  "features": {{\n{inner}\n  }}')
        else:
            lines.append(f"  {_encode(key)}: {_encode(value)}")
    temporary = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        temporary.write_text("{\n" + ",\n".join(lines) + "\n}\n", encoding="utf-8")
        os.replace(temporary, path)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise ProfileError(f"cannot write profile {path}: {exc.strerror}") from None


def _array_hook(type_: Any, value: Any) -> Any:
    if get_origin(type_) is np.ndarray and isinstance(value, list):
        return _vector(value, get_args(get_args(type_)[1])[0])
    raise NotImplementedError


def _feature_from_dict(name: str, value: Any) -> FeatureProfile:
    kinds = {"numeric": NumericProfile, "categorical": CategoricalProfile}
    if not isinstance(value, dict) or value.get("kind") not in kinds:
        raise ValueError(f"{name}: kind must be 'numeric' or 'categorical'")
    fields = {key: item for key, item in value.items() if key != "kind"}
    try:
        feature: FeatureProfile = msgspec.convert(
            fields, kinds[value["kind"]], dec_hook=_array_hook
        )
        return feature
    except (msgspec.ValidationError, ValueError) as exc:
        raise ValueError(f"{name}: {exc}") from None


def load_profile(path: str | Path) -> Profile:
    """Read and verify a profile; every failure is a one-line :class:`ProfileError`."""
    path = Path(path)
    try:
        document = msgspec.json.decode(path.read_bytes())
    except FileNotFoundError:
        raise ProfileError(f"profile {path} does not exist") from None
    except OSError as exc:
        raise ProfileError(f"cannot read profile {path}: {exc.strerror}") from None
    except msgspec.DecodeError as exc:
        raise ProfileError(f"profile {path} is not valid JSON (truncated?): {exc}") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise ProfileError(f'{path} is not a driftd profile (no "format": "{FORMAT}")')
    version = document.get("format_version")
    if version != FORMAT_VERSION:
        raise ProfileError(
            f"profile {path} has format_version {version!r}; this driftd ({__version__}) reads "
            f"version {FORMAT_VERSION}: rebuild it with `driftd baseline` or upgrade driftd"
        )
    stored, actual = document.get("content_hash"), content_hash(document)
    if stored != actual:
        raise ProfileError(
            f"profile {path} is corrupt or was edited: its content_hash does not match its "
            "contents; rebuild it with `driftd baseline`"
        )
    try:
        return _profile_from_dict(document)
    except (msgspec.ValidationError, ValueError, TypeError) as exc:
        raise ProfileError(f"profile {path} is malformed: {exc}") from None


_REQUIRED = ("model", "model_version", "created_at", "driftd_version", "source", "settings")
_REQUIRED_TYPES: tuple[Any, ...] = (str, str | None, str, str, ProfileSource, ProfileSettings)


def _profile_from_dict(document: dict[str, Any]) -> Profile:
    absent = [key for key in (*_REQUIRED, "features") if key not in document]
    if absent:
        raise ValueError(f"missing field {', '.join(map(repr, absent))}")
    features = document["features"]
    if not isinstance(features, dict):
        raise ValueError("features must be an object")
    score = document.get("score")
    score_profile = None if score is None else _feature_from_dict("score", score)
    if score_profile is not None and not isinstance(score_profile, NumericProfile):
        raise ValueError("score must be numeric")
    fields = {}
    for key, type_ in zip(_REQUIRED, _REQUIRED_TYPES, strict=True):
        try:
            fields[key] = msgspec.convert(document[key], type_)
        except msgspec.ValidationError as exc:
            raise ValueError(f"{key}: {exc}") from None
    return Profile(
        features={name: _feature_from_dict(f"features.{name}", f) for name, f in features.items()},
        score=score_profile,
        content_hash=document["content_hash"],
        **fields,
    )


# -- configuration check ------------------------------------------------------------------------


class ProfileMismatchError(ProfileError):
    """A profile that does not fit its model's configuration; ``problems`` lists each issue."""

    def __init__(self, message: str, problems: list[str]) -> None:
        super().__init__(message)
        self.problems = problems


def check_profile(
    profile: Profile, model_name: str, model_config: ModelConfig, version: str | None = None
) -> None:
    """Raise :class:`ProfileMismatchError` listing every way ``profile`` misfits the model."""
    problems = []
    if profile.model != model_name:
        problems.append(f"it is a profile of model {profile.model!r}")
    if version is not None and profile.model_version != version:
        problems.append(f"it is a profile of version {profile.model_version!r}, not {version!r}")
    for name, feature in model_config.features.items():
        stored = profile.features.get(name)
        if stored is None:
            problems.append(f"feature {name!r} is not in the profile")
        elif stored.kind != feature.type:
            problems.append(
                f"feature {name!r} is {feature.type} in the config but {stored.kind} in the profile"
            )
    if problems:
        message = f"profile does not match model {model_name!r}: " + "; ".join(problems)
        raise ProfileMismatchError(message, problems)
