"""Prefect flows: composition only (which stages, in what order, with which runner)."""
