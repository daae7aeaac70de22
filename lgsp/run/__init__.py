"""The composition root of a run: the one package that imports ``producers/`` and
``consumers/``. It holds what a run simulates (``SimulationConfig``), the roles of its processes
(``Role``), one process's share of the bus (``Simulation``), the coordinator of a run's workers
(``LoadRun``), the worker process and its protocol (``lgsp.run.protocol``), and the max-rate
search (``find_max_rate``). ``lgsp.cli`` parses options, calls these and renders the result.

The flow of one run::

    LoadRun (coordinator) ── issues the PKI, creates topics, spawns workers ──► run_worker × N
        │  Begin / Stop / Finish / Abort ─────────────────────────────────►  Simulation(roles)
        │  ◄── Ready / Snapshot / State / Sent / Settled / Result / Failed ──  send, track,
        ▼                                                                    route, receive
    merged report (lgsp.metrics.report_merge) → SLO verdict → exit code
"""

from lgsp.run.config import DEFAULT_PROFILES, BusOnly, SimulationConfig
from lgsp.run.coordinator import HostShard, LoadRun
from lgsp.run.find_max import find_max_rate
from lgsp.run.roles import ROLES, Role
from lgsp.run.simulation import Simulation

__all__ = [
    "DEFAULT_PROFILES",
    "ROLES",
    "BusOnly",
    "HostShard",
    "LoadRun",
    "Role",
    "Simulation",
    "SimulationConfig",
    "find_max_rate",
]
