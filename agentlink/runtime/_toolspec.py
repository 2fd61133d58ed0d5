"""Tools declared from typed Python functions.

The input schema comes from the parameters' type hints (a pydantic model is built once,
at declaration), the output schema from the return annotation. At call time the raw
arguments are checked by a compiled validator first; only parameters whose types need it
(pydantic models, datetimes, ...) go through pydantic, so a tool over plain JSON types
costs a dict lookup per argument.

A schema given explicitly replaces the generated one, for what type hints cannot say
(``additionalProperties``, ``minLength``, ``const``, a published schema to match exactly).
It is then the only check of the raw arguments; the members named like the function's
parameters are passed to it, converted by their type hints as usual.
"""

from __future__ import annotations

import copy
import inspect
import types
import typing
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError, create_model

from agentlink.core._dispatch import validation_errors
from agentlink.core._validator import SchemaValidator
from agentlink.model import (
    InvalidToolInput,
    InvalidToolOutput,
    Tool,
    UsageError,
)

__all__ = ["ToolSpec", "build_tool"]

_PLAIN = (str, int, float, bool, type(None))


def _is_plain(annotation: Any) -> bool:
    """Whether a value that passed JSON Schema validation can be handed over unchanged."""
    if annotation is Any or annotation in _PLAIN:
        return True
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _is_plain(typing.get_args(annotation)[0])
    if origin is Literal:
        return True
    if origin in (list, dict, typing.Union, types.UnionType):
        return all(_is_plain(arg) for arg in typing.get_args(annotation))
    return False


def _clean(schema: dict[str, Any]) -> dict[str, Any]:
    schema = dict(schema)
    schema.pop("title", None)
    return schema


@dataclass(slots=True)
class ToolSpec:
    """A tool's declaration (the wire :class:`Tool`) and how to run it."""

    tool: Tool
    func: Callable[..., Awaitable[Any]]
    context_param: str | None
    input_validator: SchemaValidator
    output_validator: SchemaValidator | None
    args_model: type[BaseModel]
    plain_args: bool
    output_adapter: TypeAdapter[Any] | None
    approvers: frozenset[str] | None
    approval_timeout: float | None = None
    #: The parameters to pass, when an explicit input schema may admit other members.
    passed: frozenset[str] | None = None

    def arguments(self, raw: dict[str, Any]) -> dict[str, Any]:
        """Validate raw JSON arguments and turn them into the handler's keyword arguments.

        Raises:
            InvalidToolInput: with ``data.errors``, one ``{"pointer", "message"}`` per failure.
        """
        errors = self.input_validator.errors(raw)
        if errors:
            raise InvalidToolInput(
                f"invalid arguments for {self.tool.name!r}: "
                f"{errors[0]['pointer'] or '/'} {errors[0]['message']}",
                data={"tool": self.tool.name, "errors": errors},
            )
        if self.passed is not None:
            raw = {k: v for k, v in raw.items() if k in self.passed}
        if self.plain_args:
            return raw
        try:
            model = self.args_model.model_validate(raw)
        except ValidationError as exc:
            errors = validation_errors(exc)
            raise InvalidToolInput(
                f"invalid arguments for {self.tool.name!r}: {errors[0]['pointer']} "
                f"{errors[0]['message']}",
                data={"tool": self.tool.name, "errors": errors},
            ) from None
        return {name: getattr(model, name) for name in type(model).model_fields}

    def output(self, value: Any) -> Any:
        """Serialise and validate the handler's return value.

        Raises:
            InvalidToolOutput: the value does not match the declared output schema.
        """
        if self.output_adapter is not None:
            try:
                value = self.output_adapter.dump_python(value, mode="json")
            except Exception as exc:
                raise InvalidToolOutput(
                    f"tool {self.tool.name!r} returned a value it cannot serialise: {exc}",
                    data={"tool": self.tool.name},
                ) from None
        if self.output_validator is None:
            try:
                orjson.dumps(value)
            except TypeError as exc:
                raise InvalidToolOutput(
                    f"tool {self.tool.name!r} returned a value that is not JSON: {exc}",
                    data={"tool": self.tool.name},
                ) from None
        else:
            try:
                errors = self.output_validator.errors(value)
            except (TypeError, ValueError) as exc:  # not JSON at all
                raise InvalidToolOutput(
                    f"tool {self.tool.name!r} returned a value that is not JSON: {exc}",
                    data={"tool": self.tool.name},
                ) from None
            if errors:
                raise InvalidToolOutput(
                    f"tool {self.tool.name!r} returned invalid output: "
                    f"{errors[0]['pointer'] or '/'} {errors[0]['message']}",
                    data={"tool": self.tool.name, "errors": errors},
                )
        return value


def _declare(fields: dict[str, Any]) -> Tool:
    return Tool.model_validate(fields)


def build_tool(
    func: Callable[..., Awaitable[Any]],
    *,
    name: str | None,
    description: str | None,
    safety: Literal["read-only", "actuates"],
    requires_approval: bool,
    approvals: int,
    idempotent: bool,
    task: bool,
    timeout: float | None,
    approvers: frozenset[str] | None,
    context_type: type,
    approval_timeout: float | None = None,
    input_schema: dict[str, Any] | None = None,
    output_schema: dict[str, Any] | None = None,
) -> ToolSpec:
    """Declare a tool from an ``async def`` function and its type hints.

    ``input_schema`` and ``output_schema``, when given, replace the generated schemas.

    Raises:
        UsageError: the function cannot be a tool, or the declaration is invalid (a
            parameter without default that the input schema does not require, say).
    """
    if not inspect.iscoroutinefunction(func):
        raise UsageError(f"tool {func.__qualname__} must be an async function")
    hints = typing.get_type_hints(func, include_extras=True)
    signature = inspect.signature(func)
    fields: dict[str, Any] = {}
    context_param = None
    plain = True
    for param in signature.parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD, param.POSITIONAL_ONLY):
            raise UsageError(
                f"tool {func.__qualname__}: *args, **kwargs and positional-only "
                "parameters cannot be described by a JSON Schema"
            )
        annotation = hints.get(param.name, Any)
        if annotation is context_type:
            context_param = param.name
            continue
        default = ... if param.default is inspect.Parameter.empty else param.default
        fields[param.name] = (annotation, default)
        plain = plain and _is_plain(annotation)
    tool_name = name or func.__name__
    args_model = create_model(
        f"{tool_name}_arguments", __config__=ConfigDict(extra="forbid"), **fields
    )
    passed: frozenset[str] | None = None
    if input_schema is None:
        input_schema = _clean(args_model.model_json_schema())
        input_schema.setdefault("properties", {})
    else:
        input_schema = copy.deepcopy(input_schema)
        passed = frozenset(fields)
        required = input_schema.get("required", [])
        unsure = [n for n, (_, default) in fields.items() if default is ... and n not in required]
        if unsure:
            raise UsageError(
                f"tool {tool_name!r}: parameters without a default must be required by "
                f"its input_schema: {', '.join(unsure)}"
            )
    output_adapter: TypeAdapter[Any] | None = None
    returns = hints.get("return", Any)
    generated: dict[str, Any] = {}
    if returns is not Any and returns is not None and returns is not type(None):
        adapter: TypeAdapter[Any] = TypeAdapter(returns)
        generated = _clean(adapter.json_schema(mode="serialization"))
        output_adapter = None if _is_plain(returns) else adapter
    output_schema = generated if output_schema is None else copy.deepcopy(output_schema)
    doc = inspect.getdoc(func) or ""
    try:
        tool = _declare(
            {
                "name": tool_name,
                "description": description if description is not None else doc,
                "input_schema": input_schema,
                "output_schema": output_schema,
                "safety": safety,
                "requires_approval": requires_approval,
                "approvals": approvals,
                "idempotent": idempotent,
                "execution": "task" if task else "sync",
                "timeout_ms": None if timeout is None else max(1, int(timeout * 1000)),
            }
        )
    except ValidationError as exc:
        problems = "; ".join(
            f"{e['pointer'] or '/'}: {e['message']}" for e in validation_errors(exc)
        )
        raise UsageError(f"tool {tool_name!r} cannot be declared: {problems}") from None
    return ToolSpec(
        tool=tool,
        func=func,
        context_param=context_param,
        input_validator=SchemaValidator(input_schema),
        output_validator=SchemaValidator(output_schema) if output_schema else None,
        args_model=args_model,
        plain_args=plain,
        output_adapter=output_adapter,
        approvers=approvers,
        approval_timeout=approval_timeout if requires_approval else None,
        passed=passed,
    )
