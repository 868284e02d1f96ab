"""Reporting: summary tables from run records, plots that return figures, the HTML page."""
