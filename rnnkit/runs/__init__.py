"""The run layer shared by every task: a task registry, run specs and directories,
budget recipes, and the train / resume / load lifecycle.

    from rnnkit.runs import train_run, resume_run, load_run
    result = train_run("lm", "runs/shakespeare", source="input.txt", train={"max_minutes": 3})
    run = load_run("runs/shakespeare")
    run.evaluate("held-out.txt")
"""

from rnnkit.runs.lifecycle import Run, RunResult, load_run, resume_run, train_run
from rnnkit.runs.recipes import BudgetTiers, Recipe
from rnnkit.runs.registry import (
    Flag,
    Prepared,
    TaskPlugin,
    content_digest,
    get_task,
    register_task,
    task_names,
    unregister_task,
)
from rnnkit.runs.spec import RunSpec

__all__ = [
    "BudgetTiers",
    "Flag",
    "Prepared",
    "Recipe",
    "Run",
    "RunResult",
    "RunSpec",
    "TaskPlugin",
    "content_digest",
    "get_task",
    "load_run",
    "register_task",
    "resume_run",
    "task_names",
    "train_run",
    "unregister_task",
]
