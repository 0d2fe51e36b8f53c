"""mobivate-hooks: webhook receiver, opt-out registry and sender for Mobivate bulk SMS."""

__version__ = "0.1.0"
