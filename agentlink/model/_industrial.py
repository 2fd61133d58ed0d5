"""Industrial data: measurements with unit, quality and source timestamp (OPC UA style)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from ._base import AssetId, Model, Timestamp

__all__ = ["Measurement", "Quality", "UnitCode"]

Quality = Literal["good", "uncertain", "bad"]
#: A UN/CEFACT Recommendation 20 unit code, e.g. CEL, KEL, RPM, NU, KWT, KWH, MIN, P1.
UnitCode = Annotated[str, Field(pattern=r"^[A-Z0-9]{1,3}$")]


class Measurement(Model):
    """A value measured on an asset. A ``bad`` value must never be used as if it were good."""

    value: float | bool | str | None
    unit: UnitCode
    quality: Quality
    source_ts: Timestamp
    server_ts: Timestamp | None = None
    asset_id: AssetId
    semantic_id: Annotated[str, Field(min_length=1, max_length=512)] | None = None
