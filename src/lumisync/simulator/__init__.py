"""A stand-in Luminate Online: the server APIs over HTTP, plus FTP/FTPS servers with the nightly file.

from lumisync.simulator import SimulatorConfig, running_simulator
with running_simulator(SimulatorConfig(constituents=200)) as sim:
    ...
"""

from .config import FileOptions, Quirks, SimulatorConfig
from .harness import Simulator, running_simulator

__all__ = ["FileOptions", "Quirks", "Simulator", "SimulatorConfig", "running_simulator"]
