"""The registry of fault types: scenario files select one by its `type:` name."""

from __future__ import annotations

from typing import Annotated, Union

from pydantic import Field

from sim.faults.base import FaultBase
from sim.faults.config_change import ConfigChange

FAULT_TYPES: dict[str, type[FaultBase]] = {
    "config_change": ConfigChange,
}


def fault_type_names() -> list[str]:
    return sorted(FAULT_TYPES)


def _fault_union() -> object:
    members = tuple(FAULT_TYPES.values())
    if len(members) == 1:
        return members[0]
    return Annotated[Union[members], Field(discriminator="type")]  # noqa: UP007


FaultSpec = _fault_union()
