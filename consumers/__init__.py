"""What takes documents off the bus: recipient agents and the delivery tracker."""

from consumers.recipient import RecipientAgents
from consumers.tracker import DeliveryTracker

__all__ = ["DeliveryTracker", "RecipientAgents"]
