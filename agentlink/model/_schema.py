"""Render the protocol's JSON Schemas (2020-12) from the models.

``render_schemas()`` returns the exact text of every file under ``protocol/schemas/``; the
CLI writes them (``agentlink schema export``) or compares them (``agentlink schema check``).
Rendering is deterministic: same models, same bytes.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel

from ._base import PROTOCOL_VERSION
from ._card import AgentCard
from ._envelope import ErrorObject, ErrorResponse, Meta, Notification, Request, SuccessResponse
from ._event import Event
from ._industrial import Measurement
from ._message import Message
from ._methods import METHODS
from ._registry import Lease, RegistryChange
from ._task import Approval, Task, TaskEvent
from ._tool import Tool

__all__ = ["OBJECT_MODELS", "SCHEMA_BASE", "model_for_schema", "render_schemas"]

SCHEMA_BASE = "https://agentlink.dev/protocol/0.1/schemas/"
DIALECT = "https://json-schema.org/draft/2020-12/schema"

#: Every protocol object that gets its own schema file, by file stem.
OBJECT_MODELS: dict[str, type[BaseModel]] = {
    "agent-card": AgentCard,
    "tool": Tool,
    "message": Message,
    "task": Task,
    "task-event": TaskEvent,
    "approval": Approval,
    "event": Event,
    "measurement": Measurement,
    "lease": Lease,
    "registry-change": RegistryChange,
    "meta": Meta,
    "request": Request,
    "notification": Notification,
    "success-response": SuccessResponse,
    "error-response": ErrorResponse,
    "error-object": ErrorObject,
}


def _method_stem(method: str) -> str:
    return method.replace("/", ".")


def _all_models() -> dict[str, type[BaseModel]]:
    models = dict(OBJECT_MODELS)
    for spec in METHODS.values():
        stem = _method_stem(spec.name)
        models[f"methods/{stem}.params"] = spec.params
        models[f"methods/{stem}.result"] = spec.result
    return models


def model_for_schema(stem: str) -> type[BaseModel]:
    """The model a schema file (by stem, e.g. ``agent-card`` or ``methods/tools.call.params``)
    was generated from."""
    return _all_models()[stem]


def _schema_for(stem: str, model: type[BaseModel]) -> dict[str, Any]:
    body = model.model_json_schema(mode="validation", by_alias=True)
    head: dict[str, Any] = {
        "$schema": DIALECT,
        "$id": f"{SCHEMA_BASE}{stem}.json",
        "$comment": (
            f"Generated from agentlink.model.{model.__name__} ({PROTOCOL_VERSION}) by "
            "`agentlink schema export`. Do not edit by hand."
        ),
    }
    return {**head, **body}


def render_schemas() -> dict[str, str]:
    """Every schema file's relative path and its exact text."""
    out: dict[str, str] = {}
    for stem, model in sorted(_all_models().items()):
        text = json.dumps(_schema_for(stem, model), indent=2, sort_keys=True, ensure_ascii=False)
        out[f"{stem}.json"] = text + "\n"
    return out
