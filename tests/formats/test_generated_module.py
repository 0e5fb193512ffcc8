"""The committed protobuf module is exactly what `make proto` generates from proto/."""

from __future__ import annotations

from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parents[2]


def test_committed_module_matches_the_proto(tmp_path: Path) -> None:
    code = protoc.main(
        [
            "protoc",
            f"-I{ROOT / 'proto'}",
            f"--python_out={tmp_path}",
            f"--pyi_out={tmp_path}",
            str(ROOT / "proto" / "open_inference_grpc.proto"),
        ]
    )
    assert code == 0
    for name in ("open_inference_grpc_pb2.py", "open_inference_grpc_pb2.pyi"):
        generated = (tmp_path / name).read_text()
        assert generated == (ROOT / "monitor" / "formats" / name).read_text(), name
