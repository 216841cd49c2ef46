"""Setups: the schema, the versioned store, the compiler (setup -> signals)."""

from engine.setups.compile import CompiledSetup, compile_setup
from engine.setups.edit import apply_changes, apply_setup
from engine.setups.params import apply_parameters, parameter_space
from engine.setups.parse import dump_setup, parse_setup, rule_hash
from engine.setups.schema import Setup

__all__ = ["CompiledSetup", "Setup", "apply_changes", "apply_parameters", "apply_setup",
           "compile_setup", "dump_setup", "parameter_space", "parse_setup", "rule_hash"]
