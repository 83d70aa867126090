"""pimopt: static schedules of weight programming for ReRAM PIM DNN accelerators."""

from pimopt.architecture import Architecture, load_architecture
from pimopt.errors import InputError, PimoptError
from pimopt.instance import Instance, load_instance
from pimopt.mapping import Mapping
from pimopt.network import Layer, Network
from pimopt.schedule import Schedule
from pimopt.solve import Result, solve
from pimopt.verify import Report, verify

__version__ = "0.1.0"

__all__ = [
    "Architecture",
    "InputError",
    "Instance",
    "Layer",
    "Mapping",
    "Network",
    "PimoptError",
    "Report",
    "Result",
    "Schedule",
    "load_architecture",
    "load_instance",
    "solve",
    "verify",
]
