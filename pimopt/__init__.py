"""pimopt: static schedules of weight programming for ReRAM PIM DNN accelerators."""

import time as _time

# when the package was first imported: the CLI's time limit starts here, so that importing
# the solvers (about a second) counts too; so it comes before the imports below
IMPORTED_AT = _time.perf_counter()

from pimopt.architecture import Architecture, load_architecture
from pimopt.errors import InputError, PimoptError, Refused, VerificationError
from pimopt.instance import Instance, load_instance
from pimopt.mapping import Mapping
from pimopt.methods.registry import METHODS, Method
from pimopt.network import Layer, Network
from pimopt.options import Options
from pimopt.pipeline import solve
from pimopt.result import Result, Status, compare, record
from pimopt.schedule import Schedule
from pimopt.stop import Deadline
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
    "compare",
    "load_architecture",
    "load_instance",
    "record",
    "solve",
    "verify",
]
