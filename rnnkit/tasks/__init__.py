"""The built-in tasks, each a plug-in of the run layer (`rnnkit.runs`).

Importing this package registers them; each module is imported explicitly, so a
task is there exactly when its module says so.
"""

from rnnkit.tasks import classify, forecast, lm, translate  # noqa: F401
