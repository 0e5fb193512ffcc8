"""The wheel: what the Dockerfile builds, what it contains, and that it runs when installed.

The Dockerfile's build stage copies a few paths and runs ``python -m build --wheel``; its
runtime stage installs only that wheel. The test does the same outside Docker: it copies
exactly the paths the build stage copies, builds the wheel with ``python -m build`` (so a
file the build needs but the Dockerfile forgets fails here), checks its contents, installs
it with its dependencies into a fresh virtual environment and runs ``driftd --version``
and ``driftd check-config`` from there.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

from monitor import __version__

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
PACKAGES = ("monitor", "detectors")


def dockerfile_stages() -> list[tuple[str, list[tuple[str, str]]]]:
    """``[(stage name, [(instruction, arguments), ...]), ...]``, continuation lines joined."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text(encoding="utf-8"))
    stages: list[tuple[str, list[tuple[str, str]]]] = []
    for line in (raw.strip() for raw in text.splitlines()):
        if not line or line.startswith("#"):
            continue
        instruction, _, arguments = line.partition(" ")
        if instruction.upper() == "FROM":
            words = arguments.split()
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else ""
            stages.append((name, []))
        stages[-1][1].append((instruction.upper(), arguments.strip()))
    return stages


def copied_sources(stage: list[tuple[str, str]]) -> list[str]:
    sources = []
    for instruction, arguments in stage:
        if instruction == "COPY" and not arguments.startswith("--from"):
            *paths, _destination = shlex.split(arguments)
            sources += paths
    return sources


def test_the_dockerfile_installs_the_wheel_its_build_stage_makes() -> None:
    (build_name, build), (_, runtime) = dockerfile_stages()
    assert build_name == "build"
    runs = " && ".join(arguments for instruction, arguments in build if instruction == "RUN")
    assert "python -m build --wheel --outdir /dist" in runs
    assert set(copied_sources(build)) == {"pyproject.toml", "README.md", *PACKAGES}
    # The runtime stage gets the code only as the wheel: no source directory is copied.
    copies = [arguments for instruction, arguments in runtime if instruction == "COPY"]
    assert "--from=build /dist/*.whl /tmp/" in copies
    assert not set(copied_sources(runtime)) & set(PACKAGES)
    installs = [arguments for instruction, arguments in runtime if instruction == "RUN"]
    assert any(re.search(r"pip install .*/tmp/\*\.whl", command) for command in installs)
    entrypoint = [arguments for instruction, arguments in runtime if instruction == "ENTRYPOINT"]
    assert entrypoint == ['["driftd"]']
    ignored = (ROOT / ".dockerignore").read_text(encoding="utf-8").split()
    assert not set(copied_sources(build)) & set(ignored)


def source_files(package: str) -> set[str]:
    """Every file of a package in the source tree (what the wheel must hold)."""
    return {
        path.relative_to(ROOT).as_posix()
        for path in (ROOT / package).rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }


def run(*command: str | Path, cwd: Path, timeout: float) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [str(c) for c in command],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        check=False,
    )
    assert result.returncode == 0, f"{command}:\n{result.stdout}\n{result.stderr}"
    return result


@pytest.mark.slow
@pytest.mark.integration
def test_the_wheel_installs_into_a_fresh_environment_and_runs(tmp_path: Path) -> None:
    (_, build), _ = dockerfile_stages()
    context = tmp_path / "context"
    context.mkdir()
    for source in copied_sources(build):
        if (ROOT / source).is_dir():
            shutil.copytree(
                ROOT / source, context / source, ignore=shutil.ignore_patterns("__pycache__")
            )
        else:
            shutil.copy2(ROOT / source, context / source)
    dist = tmp_path / "dist"
    run(sys.executable, "-m", "build", "--wheel", "--outdir", dist, ".", cwd=context, timeout=180)
    (wheel,) = dist.glob("*.whl")
    assert wheel.name == f"driftd-{__version__}-py3-none-any.whl"

    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        info = f"driftd-{__version__}.dist-info"
        metadata = Parser().parsestr(archive.read(f"{info}/METADATA").decode())
        entry_points = archive.read(f"{info}/entry_points.txt").decode()
    code = {name for name in names if not name.startswith(info)}
    expected = source_files("monitor") | source_files("detectors")
    assert code == expected, (sorted(expected - code), sorted(code - expected))
    assert {"monitor/py.typed", "detectors/py.typed", "monitor/demo/demo.yaml"} <= code
    assert re.search(r"^driftd = monitor\.cli:main$", entry_points, re.MULTILINE)
    requires = metadata.get_all("Requires-Dist") or []
    kafka = [r for r in requires if r.startswith("kafka-python")]
    assert kafka and all(codec in kafka[0] for codec in ("crc32c", "lz4", "snappy", "zstd"))

    # A fresh environment: no pip of its own, nothing but what the wheel pulls in.
    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=tmp_path, timeout=120)
    python = venv / "bin" / "python"
    # --no-compile: byte-compiling ~500 MB of dependencies would double the install time.
    run(
        sys.executable, "-m", "pip", "--python", python, "install", "--quiet", "--no-compile",
        wheel, cwd=tmp_path, timeout=400,
    )  # fmt: skip
    where = run(python, "-c", "import monitor; print(monitor.__file__)", cwd=tmp_path, timeout=120)
    assert Path(where.stdout.strip()).is_relative_to(venv)
    driftd = venv / "bin" / "driftd"
    version = run(driftd, "--version", cwd=tmp_path, timeout=120)
    assert version.stdout.strip() == f"driftd {__version__}"
    for config in (ROOT / "config" / "example.yaml", ROOT / "deploy" / "driftd.yaml"):
        checked = run(driftd, "check-config", config, cwd=tmp_path, timeout=120)
        assert checked.stdout.startswith(f"{config}: OK ("), checked.stdout
        assert "codecs gzip, snappy, lz4, zstd" in checked.stdout
