"""What a run shows a reader: result tables (terminal, Prefect artifacts) and the HTML report."""
