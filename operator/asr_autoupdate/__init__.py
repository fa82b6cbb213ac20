"""Keeps Azure Site Recovery's Mobility Service extension updated, one MobilityUpdatePolicy per vault."""

__version__ = "0.1.0"
