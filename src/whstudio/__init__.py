"""WorldHuman Studio: human feedback for RLHF on PostgreSQL."""

__version__ = "0.1.0"
