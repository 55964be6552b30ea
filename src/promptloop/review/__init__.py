"""The human side of the loop: the review queue, annotation labels, agreement, and the
periodic prompt review report (docs/review.md).

- :mod:`~promptloop.review.rules` and :mod:`~promptloop.review.queue`: which interactions
  enter the queue, in which order, and atomic claiming;
- :mod:`~promptloop.review.labels`: structured labels, stored under a compare-and-set;
- :mod:`~promptloop.review.onward`: labels as annotator feedback, accepted eval items and
  triage confirmations;
- :mod:`~promptloop.review.agreement`: Cohen's kappa per label field;
- :mod:`~promptloop.review.report` and :mod:`~promptloop.review.render`: the report.
"""
