"""nas: distributed neuroevolution architecture search on Optuna and PostgreSQL."""

__version__ = "0.1.0"
