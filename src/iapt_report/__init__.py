"""iapt-report: NHS Talking Therapies (IAPT) official statistics from record-level data."""

__version__ = "0.1.0"
