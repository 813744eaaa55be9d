"""Hypotheses -> figures: PER under both silence conventions, boundary accuracy, the report."""
