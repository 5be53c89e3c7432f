"""Fault types, one module each, registered by their `type` name."""

from sim.faults.registry import FAULT_TYPES, FaultSpec, fault_type_names

__all__ = ["FAULT_TYPES", "FaultSpec", "fault_type_names"]
