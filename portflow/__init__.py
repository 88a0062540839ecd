"""portflow: a staged, versioned research pipeline for systematic portfolio strategies."""

__version__ = "0.1.0"
