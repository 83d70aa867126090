"""pimopt: static schedules of weight programming for ReRAM PIM DNN accelerators."""

from pimopt.architecture import Architecture, load_architecture
from pimopt.errors import InputError, PimoptError, Refused, VerificationError
from pimopt.instance import Instance, load_instance
from pimopt.mapping import Mapping
from pimopt.methods.registry import METHODS, Method
from pimopt.network import Layer, Network
from pimopt.pipeline import solve
from pimopt.result import Result
from pimopt.schedule import Schedule
from pimopt.verify import Report, verify

__version__ = "0.1.0"

__all__ = [
    "METHODS",
    "Architecture",
    "Deadline",
    "InputError",
    "Instance",
    "Layer",
    "Mapping",
    "Method",
    "Network",
    "Options",
    "PimoptError",
    "Refused",
    "Report",
    "Result",
    "Schedule",
    "Status",
    "VerificationError",
    "load_architecture",
    "load_instance",
    "solve",
    "verify",
]
