"""Config sections of governance: the audit trail and live config reload."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AuditConfig(_Strict):
    """Append-only audit records of alerts, held decisions and config changes."""

    enabled: bool = False
    topic: str = "driftd.audit"
    # Also append every audit record to this JSONL file (flushed before offsets commit).
    file: Path | None = None

    @field_validator("file")
    @classmethod
    def _relative_to_config(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        base = (info.context or {}).get("base_dir")
        if value is None or value.is_absolute() or base is None:
            return value
        return Path(base) / value


class ReloadConfig(_Strict):
    """Config hot reload: on SIGHUP always; also when the file changes if this is > 0."""

    watch_seconds: float = Field(0.0, ge=0, le=3600)
