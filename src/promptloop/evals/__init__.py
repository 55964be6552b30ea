"""Evaluations: assertions, providers, LLM-as-judge, datasets, runs and the CI gate."""
