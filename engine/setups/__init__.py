"""Setups: the schema, the versioned store, the compiler (setup -> signals)."""

from engine.setups.compile import CompiledSetup, compile_setup
from engine.setups.params import apply_parameters, parameter_space
from engine.setups.parse import dump_setup, parse_setup, rule_hash
from engine.setups.schema import Setup

__all__ = ["CompiledSetup", "Setup", "apply_parameters", "compile_setup", "dump_setup",
           "parameter_space", "parse_setup", "rule_hash"]
