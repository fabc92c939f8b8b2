"""Evaluation before release: datasets, experiment runs judged like production, comparison and the CI gate."""
