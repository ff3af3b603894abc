"""The commands of model-release, one module each, as functions from typed inputs to typed reports.

Each command takes the :class:`~release.config.Config` (when it needs one) and a frozen options
value, runs the stages of :mod:`release.pipeline` and the modules below it, and returns a frozen
report (:class:`release.workflow.report.Report`): ``to_json()`` is what ``--json`` prints,
``text()`` what a terminal shows, ``exit_code`` follows from the report's type. A failure that leaves
nothing to report raises a :class:`~release.errors.ReleaseError` instead. Nothing here parses
arguments or prints: :mod:`release.cli` does, and :mod:`release.ci` summarises the same reports.

This package imports none of its modules: a command pays only for the stages it runs.
"""
