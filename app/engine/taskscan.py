"""Flat task scans for SpiffWorkflow 3.2.0's state queries (installed once, by ``app.engine``).

``Workflow.get_tasks(state=S)`` and ``Workflow.update_waiting_tasks`` walk the task tree from
the root, i.e. every finished task of the case's whole history, and the engine calls them in
every engine step and after every task it completes: for a case with a long history most of a
completion's engine time went into these walks. A scan of the workflow's flat task dictionary
finds the few tasks in state ``S`` several times faster.

The result is exactly the tree walk's, in the same order: a match counts only if every ancestor
is in a state the walk descends into (``TaskIterator.min_state``) and it is no deeper than the
walk's ``max_depth``; matches are ordered by their path from the root, which is the walk's
depth-first pre-order. Queries with any other filter, a start task, or a workflow that has
subprocesses (the BPMN walk also descends into those) keep the original walk.
``update_waiting_tasks`` uses the scan only to learn that there is no WAITING task at all.
"""

from __future__ import annotations

from typing import Any

from SpiffWorkflow.util.task import TaskIterator, TaskState
from SpiffWorkflow.workflow import Workflow

__all__ = ["TaskIterator", "TaskState", "Workflow", "install", "scan"]

_MAX_DEPTH = 1000  # TaskIterator's default max_depth
_original_get_tasks = Workflow.get_tasks
_original_update_waiting = Workflow.update_waiting_tasks


def _min_state(state: int) -> int:
    """The lowest state the tree walk descends into for a filter on ``state`` (as TaskIterator)."""
    if state & TaskState.PREDICTED_MASK:
        return TaskState.MAYBE
    if state & TaskState.DEFINITE_MASK:
        return TaskState.FUTURE
    return TaskState.COMPLETED


def _position(task: Any, min_state: int) -> list[int] | None:
    """The task's path of child indexes from the root, or None if the tree walk never reaches it."""
    path: list[int] = []
    child, parent = task, task.parent
    while parent is not None:
        if parent._state < min_state:
            return None
        path.append(parent._children.index(child.id))
        child, parent = parent, parent.parent
    if len(path) > _MAX_DEPTH:
        return None
    path.reverse()
    return path


def scan(workflow: Any, state: int) -> list[Any] | None:
    """The tasks in ``state`` in tree order, or None when only the tree walk can answer."""
    top = getattr(workflow, "top_workflow", None)
    if top is None or top.subprocesses:
        return None
    found = [task for task in workflow.tasks.values() if task._state & state]
    if not found:
        return found
    min_state = _min_state(state)
    keyed = []
    for task in found:
        position = _position(task, min_state)
        if position is not None:
            keyed.append((position, task))
    if len(keyed) > 1:
        keyed.sort(key=lambda pair: pair[0])
    return [task for _, task in keyed]


def _get_tasks(self: Any, first_task: Any = None, **kwargs: Any) -> list[Any]:
    if first_task is None and len(kwargs) == 1 and "state" in kwargs:
        found = scan(self, kwargs["state"])
        if found is not None:
            return found
    return _original_get_tasks(self, first_task, **kwargs)


def _update_waiting_tasks(self: Any) -> None:
    # The walk covers this workflow's own tree (its task dictionary): with no WAITING task there it
    # updates nothing. With some, the walk runs as is: it is lazy, so an update can change what it
    # reaches later (a task that starts waiting further on, a branch dropped), unlike a snapshot.
    waiting = TaskState.WAITING
    if not any(task._state & waiting for task in self.tasks.values()):
        return
    _original_update_waiting(self)


def install() -> None:
    Workflow.get_tasks = _get_tasks
    Workflow.update_waiting_tasks = _update_waiting_tasks
