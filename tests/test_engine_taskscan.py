"""app/engine/taskscan.py answers the engine's state queries exactly as SpiffWorkflow's tree walk does.

The strongest check runs the example county's whole year (every process of the product) with a
wrapper that asks both the flat scan and the original walk on every query and compares them.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from app import engine
from app.engine import taskscan
from app.engine.taskscan import TaskState, Workflow
from tests.test_engine import bpmn, end, flow, parse, start, user_task

EXAMPLE = Path(__file__).resolve().parent / "data" / "scenarios" / "example-county.json"
STATES = (
    TaskState.READY, TaskState.WAITING, TaskState.COMPLETED, TaskState.FUTURE, TaskState.MAYBE | TaskState.LIKELY,
    TaskState.NOT_FINISHED_MASK, TaskState.ANY_MASK,
)


def _ids(tasks: list[Any]) -> list[str]:
    return [str(t.id) for t in tasks]


def _walk(workflow: Any, state: int) -> list[Any]:
    return taskscan._original_get_tasks(workflow, None, state=state)


def test_every_query_of_a_whole_year_matches_the_tree_walk(app, tmp_path, monkeypatch):
    seen: Counter[str] = Counter()

    def checked_get_tasks(self: Any, first_task: Any = None, **kwargs: Any) -> list[Any]:
        fast = taskscan._get_tasks(self, first_task, **kwargs)
        slow = taskscan._original_get_tasks(self, first_task, **kwargs)
        assert _ids(fast) == _ids(slow), kwargs
        if first_task is None and list(kwargs) == ["state"]:
            seen["scanned"] += 1
            seen["several"] += len(fast) > 1
        return fast

    def checked_update_waiting(self: Any) -> None:
        found = taskscan.scan(self, TaskState.WAITING)
        if found is not None:
            walked = list(taskscan.TaskIterator(self.task_tree, state=TaskState.WAITING))
            assert _ids(found) == _ids(walked)
            seen["waiting"] += 1
        taskscan._update_waiting_tasks(self)

    monkeypatch.setattr(Workflow, "get_tasks", checked_get_tasks)
    monkeypatch.setattr(Workflow, "update_waiting_tasks", checked_update_waiting)
    result = app.test_cli_runner().invoke(args=["scenario", "run", str(EXAMPLE), "--out", str(tmp_path / "r.json")])
    assert result.exit_code == 0, result.output
    # the fast path really answered: thousands of queries, some with several matches to order
    assert seen["scanned"] > 500 and seen["several"] > 10 and seen["waiting"] > 100


# start -> fork -> (a, b, c) -> join -> end: three READY user tasks at once
FORK = bpmn(
    start()
    + '<bpmn:parallelGateway id="fork"><bpmn:incoming>f_start</bpmn:incoming>'
    "<bpmn:outgoing>f_a</bpmn:outgoing><bpmn:outgoing>f_b</bpmn:outgoing><bpmn:outgoing>f_c</bpmn:outgoing>"
    "</bpmn:parallelGateway>"
    + user_task("a", ["f_a"], "f_a_join") + user_task("b", ["f_b"], "f_b_join") + user_task("c", ["f_c"], "f_c_join")
    + '<bpmn:parallelGateway id="join"><bpmn:incoming>f_a_join</bpmn:incoming><bpmn:incoming>f_b_join</bpmn:incoming>'
    "<bpmn:incoming>f_c_join</bpmn:incoming><bpmn:outgoing>f_end</bpmn:outgoing></bpmn:parallelGateway>"
    + end("f_end")
    + flow("f_start", "start", "fork") + flow("f_a", "fork", "a") + flow("f_b", "fork", "b")
    + flow("f_c", "fork", "c") + flow("f_a_join", "a", "join") + flow("f_b_join", "b", "join")
    + flow("f_c_join", "c", "join") + flow("f_end", "join", "end"),
    pid="three_branches",
)


def test_parallel_branches_come_in_tree_order_at_every_step():
    instance = engine.Instance.start(parse(FORK))
    workflow = instance.workflow
    order = [t.step for t in instance.ready_user_tasks()]
    assert order == ["a", "b", "c"]
    for step in ("b", "a", "c"):  # complete out of order: the join waits, then the process ends
        for state in STATES:
            assert _ids(workflow.get_tasks(state=state)) == _ids(_walk(workflow, state)), state
        task = next(t for t in instance.ready_user_tasks() if t.step == step)
        instance.complete(task.id, {})
    assert instance.ready_user_tasks() == []
    assert _ids(workflow.get_tasks(state=TaskState.COMPLETED)) == _ids(_walk(workflow, TaskState.COMPLETED))


SUBPROCESS = bpmn(
    start()
    + '<bpmn:subProcess id="sub"><bpmn:incoming>f_start</bpmn:incoming><bpmn:outgoing>f_end</bpmn:outgoing>'
    '<bpmn:startEvent id="sub_start"><bpmn:outgoing>f_s1</bpmn:outgoing></bpmn:startEvent>'
    + user_task("inner", ["f_s1"], "f_s2")
    + '<bpmn:endEvent id="sub_end"><bpmn:incoming>f_s2</bpmn:incoming></bpmn:endEvent>'
    + flow("f_s1", "sub_start", "inner") + flow("f_s2", "inner", "sub_end")
    + "</bpmn:subProcess>"
    + end("f_end")
    + flow("f_start", "start", "sub") + flow("f_end", "sub", "end"),
    pid="withsub",
)


def test_a_workflow_with_a_subprocess_keeps_the_tree_walk():
    instance = engine.Instance.start(parse(SUBPROCESS))
    assert taskscan.scan(instance.workflow, TaskState.READY) is None  # only the walk descends into it
    [task] = instance.ready_user_tasks()  # found inside the subprocess by the original walk
    assert task.step == "inner"
    instance.complete(task.id, {})
    assert instance.ready_user_tasks() == []


@pytest.mark.parametrize("kwargs", [{"state": TaskState.READY, "manual": True}, {"spec_name": "a"}])
def test_queries_with_other_filters_use_the_tree_walk(kwargs, monkeypatch):
    instance = engine.Instance.start(parse(FORK))
    monkeypatch.setattr(taskscan, "scan", lambda *a: pytest.fail("scanned a filtered query"))
    found = instance.workflow.get_tasks(**kwargs)
    assert _ids(found) == _ids(taskscan._original_get_tasks(instance.workflow, None, **kwargs))
    assert found
