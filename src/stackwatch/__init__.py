"""stackwatch: an operations monitor for OpenStack clouds."""

__version__ = "0.1.0"
