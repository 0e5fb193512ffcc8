"""Profiles from data files: CSV, Parquet and JSONL agree; kinds are inferred; errors name the
file; and the ``driftd baseline`` command end to end."""

from __future__ import annotations

import csv
import gzip
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from monitor.baseline import build_profile_from_file, infer_kinds, input_columns, input_format
from monitor.cli import main
from monitor.errors import ProfileError
from monitor.profile import CategoricalProfile, NumericProfile, load_profile, profile_to_dict

ROOT = Path(__file__).resolve().parents[1]


def table(rows: int = 3_000) -> pa.Table:
    rng = np.random.default_rng(5)
    income = rng.lognormal(10, 0.4, rows).round(2)
    region = rng.choice(["eu", "us", "apac"], rows).astype(object)
    region[::37] = None
    return pa.table(
        {
            "id": [f"e-{i}" for i in range(rows)],
            "income": pa.array(
                np.where(np.arange(rows) % 23 == 0, np.nan, income), from_pandas=True
            ),
            "region": region.tolist(),
            "kids": rng.integers(0, 4, rows),
            "is_new": rng.random(rows) < 0.2,
            "score": rng.random(rows),
        }
    )


def csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if isinstance(value, float) else str(value)


def write(data: pa.Table, path: Path) -> Path:
    """Write ``data`` in the format of ``path``'s suffix, the way a user's pipeline would."""
    name = path.name.removesuffix(".gz")
    opener: Any = gzip.open if path.suffix == ".gz" else open
    if name.endswith((".parquet", ".pq")):
        pq.write_table(data, path, row_group_size=701)
    elif name.endswith(".csv"):
        with opener(path, "wt", newline="", encoding="utf-8") as stream:
            writer = csv.writer(stream)
            writer.writerow(data.column_names)
            writer.writerows([csv_cell(v) for v in row.values()] for row in data.to_pylist())
    else:
        with opener(path, "wt", encoding="utf-8") as stream:
            for row in data.to_pylist():
                # Leave missing keys out: absent and null are both missing.
                stream.write(json.dumps({k: v for k, v in row.items() if v is not None}) + "\n")
    return path


def statistics(path: Path, **options: Any) -> tuple[Any, Any]:
    document = profile_to_dict(
        build_profile_from_file(path, "m", score_column="score", progress=False, **options)
    )
    return document["features"], document["score"]


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("data")
    data = table()
    names = ["d.csv", "d.csv.gz", "d.parquet", "d.pq", "d.jsonl", "d.ndjson.gz"]
    return {name: write(data, folder / name) for name in names}


def test_all_formats_give_identical_profiles(files: dict[str, Path]) -> None:
    expected = statistics(files["d.parquet"])
    for name, path in files.items():
        assert statistics(path, chunk_rows=500) == expected, name
    features = expected[0]
    assert {name: f["kind"] for name, f in features.items()} == {
        "id": "categorical",
        "income": "numeric",
        "region": "categorical",
        "kids": "numeric",  # integer-coded stays numeric
        "is_new": "categorical",
    }
    assert features["is_new"]["categories"][0] == "false"
    assert features["income"]["missing"] == len(range(0, 3_000, 23))
    assert features["region"]["missing"] == len(range(0, 3_000, 37))


def test_declared_kinds_profile_only_those_columns(files: dict[str, Path]) -> None:
    kinds: Any = {"region": "categorical", "kids": "categorical"}
    profile = build_profile_from_file(files["d.csv"], "m", "7", kinds, "score", progress=False)
    assert list(profile.features) == ["region", "kids"]
    kids = profile.features["kids"]
    assert isinstance(kids, CategoricalProfile) and set(kids.categories) == {"0", "1", "2", "3"}
    parquet = build_profile_from_file(files["d.parquet"], "m", "7", kinds, "score", progress=False)
    assert parquet.features == profile.features and parquet.score == profile.score
    assert (profile.model_version, profile.source.path, profile.source.rows) == ("7", "d.csv", 3000)


def test_source_settings_and_sample(files: dict[str, Path]) -> None:
    profile = build_profile_from_file(
        files["d.jsonl"],
        "m",
        kinds={"income": "numeric"},
        sample_size=100,
        bins=4,
        seed=3,
        progress=False,
    )
    income = profile.features["income"]
    assert isinstance(income, NumericProfile)
    assert (income.sample.size, income.bin_proportions.size) == (100, 4)
    assert (profile.source.format, profile.settings.seed, profile.score) == ("jsonl", 3, None)


def test_inference_rules() -> None:
    columns = {
        "number_text": ["1.5", None, "NA", "2e3"],
        "text": ["1", "x", None, None],
        "flags": [True, False, None, True],
        "json_number_strings": ["1", "2", "3", "4"],
        "ints": [1, 2, None, 3],
        "empty": [None, None, None, None],
        "nested": [{"a": 1}, None, None, None],
        "floats": np.array([np.nan, 1.0, 2.0, 3.0]),
        "all_nan": np.full(4, np.nan),
        "bools": np.array([True, False, True, True]),
    }
    text = {k: v for k, v in columns.items() if k in ("number_text", "text", "empty")}
    assert infer_kinds(text, from_text=True) == {"number_text": "numeric", "text": "categorical"}
    assert infer_kinds(columns, from_text=False) == {
        "number_text": "categorical",  # JSON strings are text, even when they look like numbers
        "text": "categorical",
        "flags": "categorical",
        "json_number_strings": "categorical",
        "ints": "numeric",
        "floats": "numeric",
        "bools": "categorical",
    }


def test_csv_missing_spellings_in_numeric_columns(tmp_path: Path) -> None:
    path = tmp_path / "na.csv"
    path.write_text("x,c\n1.5,NA\nNA,b\n,\nnan,NA\n2.5,b\n")
    profile = build_profile_from_file(path, "m", progress=False)
    x, c = profile.features["x"], profile.features["c"]
    assert isinstance(x, NumericProfile) and isinstance(c, CategoricalProfile)
    assert (x.count, x.missing, x.mean) == (2, 3, 2.0)
    assert (c.categories, c.missing) == (("NA", "b"), 1)  # "NA" may be a real category


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("d.txt", "x\n1\n", "unknown input format"),
        ("d.parquet.gz", "", "unknown input format"),
        ("d.csv", "", "the file is empty"),
        ("d.csv", "x,x\n1,2\n", "names a column twice"),
        ("d.csv", "x,y\n1,2\n3\n", "row 2 has 1 fields, not 2"),
        ("d.csv", "x\n", "no data rows"),
        ("d.csv", "x,y\n,\n", "no column with values to profile"),
        (
            "d.csv",
            "x\n1\n2\nabc\n",
            r"numeric column 'x': row 3 holds 'abc'.*inferred .*declare it with -c",
        ),
        ("d.jsonl", '{"x": 1}\n\n{"x": 2\n', "line 3 is not valid JSON"),
        ("d.jsonl", '{"x": 1}\n[1, 2]\n', "line 2 is not a JSON object"),
        ("d.parquet", "not parquet at all", "not a readable Parquet file"),
        ("d.csv.gz", "not gzip", "malformed or truncated"),
        ("d.csv", b"x\n\xff\xfe\n", "not UTF-8 text"),
    ],
)
def test_bad_inputs_are_named(
    tmp_path: Path, name: str, content: str | bytes, message: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(ProfileError, match=message) as info:
        build_profile_from_file(path, "m", chunk_rows=2, progress=False)
    assert str(info.value).startswith(str(path)) and "\n" not in str(info.value)


def test_configured_columns_must_exist(files: dict[str, Path], tmp_path: Path) -> None:
    kinds: Any = {"income": "numeric", "tenure": "numeric"}
    for name in ("d.csv", "d.parquet"):
        with pytest.raises(ProfileError, match=r"no column 'tenure' \(the file has: id, income"):
            build_profile_from_file(files[name], "m", kinds=kinds, progress=False)
    with pytest.raises(ProfileError, match=r"no values in column 'tenure' \(all 3,000 rows"):
        build_profile_from_file(files["d.jsonl"], "m", kinds=kinds, progress=False)
    with pytest.raises(ProfileError, match="no column 'prediction'"):
        build_profile_from_file(files["d.jsonl"], "m", score_column="prediction", progress=False)
    with pytest.raises(ProfileError, match="score column 'income' is also declared"):
        build_profile_from_file(files["d.csv"], "m", kinds=kinds, score_column="income")
    with pytest.raises(ProfileError, match=r"cannot read .*missing\.csv: No such file"):
        build_profile_from_file(tmp_path / "missing.csv", "m", progress=False)


def test_parquet_columns_of_other_types(tmp_path: Path) -> None:
    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({"x": [1.0, 2.0], "when": [[1], [2, 3]]}), path)
    assert list(build_profile_from_file(path, "m", progress=False).features) == ["x"]
    with pytest.raises(ProfileError, match=r"column 'when' \(list<element: int64>\): not numbers"):
        build_profile_from_file(path, "m", kinds={"when": "numeric"}, progress=False)


def test_parquet_without_pyarrow(files: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    with pytest.raises(ProfileError, match=r"pip install 'driftd\[parquet\]'"):
        build_profile_from_file(files["d.parquet"], "m", progress=False)


def test_helpers_and_quiet_progress(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert input_format("a/b.NDJSON.gz") == ("jsonl", True)
    assert input_format("b.pq") == ("parquet", False)
    assert set(input_columns(files["d.jsonl"])) == set(table(1).column_names)
    assert "score" in input_columns(files["d.parquet"])
    build_profile_from_file(files["d.csv"], "m", progress=True)  # stderr is not a terminal
    assert capsys.readouterr().err == ""


# -- the command line ------------------------------------------------------------------------


def driftd(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "monitor", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        check=False,
    )


CONFIG = """
models:
  credit:
    reference: {profile: credit.json}
    features:
      income: {type: numeric}
      region: {type: categorical}
      is_new: {type: categorical}
"""


def test_cli_builds_and_checks_a_profile(files: dict[str, Path], tmp_path: Path) -> None:
    (tmp_path / "driftd.yaml").write_text(CONFIG)
    done = driftd(
        "baseline", "--model", "credit", "--input", files["d.parquet"], "--out", "credit.json",
        "-c", "driftd.yaml", "--version", "2", "--sample-size", "500", "--seed", "4",
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    profile = load_profile(tmp_path / "credit.json")
    assert list(profile.features) == ["income", "region", "is_new"]
    assert profile.score is not None and profile.score.sample.size == 500
    assert (profile.model, profile.model_version, profile.settings.seed) == ("credit", "2", 4)
    assert "3,000 rows of d.parquet" in done.stdout
    assert profile.content_hash in done.stdout and "credit.json" in done.stdout


def test_cli_reports_bad_input_without_a_traceback(files: dict[str, Path], tmp_path: Path) -> None:
    (tmp_path / "driftd.yaml").write_text(CONFIG.replace("is_new", "tenure"))
    done = driftd(
        "baseline", "--model", "credit", "--input", files["d.csv"], "--out", "p.json",
        "-c", "driftd.yaml",
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 1
    assert done.stderr.strip() == (
        f"driftd: {files['d.csv']}: no column 'tenure' (the file has: id, income, region, kids, "
        "is_new, score)"
    )
    assert not (tmp_path / "p.json").exists()
    assert "Traceback" not in done.stderr


def test_cli_errors_in_process(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "driftd.yaml").write_text(CONFIG)
    common = ["baseline", "--input", str(files["d.csv"]), "--out", str(tmp_path / "p.json")]
    config = ["-c", str(tmp_path / "driftd.yaml")]
    assert main([*common, "--model", "fraud", *config]) == 1
    assert "model 'fraud' is not in" in capsys.readouterr().err
    (tmp_path / "driftd.yaml").write_text("models: {}\n")
    assert main([*common, "--model", "credit", *config]) == 1
    assert "problem(s)" in capsys.readouterr().err
    assert main([*common, "--model", "credit", "--no-score"]) == 0
    assert load_profile(tmp_path / "p.json").score is None
    assert "score column: none" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main([*common, "--model", "credit", "--bins", "1"])
    assert "--bins: '1' is not an integer >= 2" in capsys.readouterr().err
