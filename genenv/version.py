"""The genenv version, in a module of its own so any room can read it without importing the root."""

__version__ = "0.1.0"
