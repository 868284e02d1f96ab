"""Metrics: pure functions over canonical posteriors and truths that return tidy rows
(diagnostics, predictive fit, recovery, replicate summaries). No I/O, no model objects."""
