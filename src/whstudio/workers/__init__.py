"""Background workers that run beside the web app or alone: webhook delivery (`webhooks.py`)."""
