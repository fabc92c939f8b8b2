"""The evaluator: samples stored LLM calls, scores them with a judge model and writes scores back."""
