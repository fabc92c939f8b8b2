"""The questions every consumer asks of the store, written once: the CLI, ``report``, monitors,
dashboards and alert rules render the same SQL file, so their numbers for one window cannot drift."""

from llmsight.queries.questions import Filters, ask, question_names, render

__all__ = ["Filters", "ask", "question_names", "render"]
