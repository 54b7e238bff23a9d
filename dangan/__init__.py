"""Dangan (档案): records management for property-management companies."""

__version__ = "0.1.0"
