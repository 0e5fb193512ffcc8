"""driftd: a streaming drift-monitoring daemon for machine-learning models in production."""

__version__ = "0.1.0"
