"""What puts documents on the bus: the traffic model, agency senders, the open-loop scheduler."""

from producers.scheduler import OpenLoopScheduler
from producers.sender import AgencySender
from producers.traffic import Draft, TrafficModel, head_official

__all__ = ["AgencySender", "Draft", "OpenLoopScheduler", "TrafficModel", "head_official"]
