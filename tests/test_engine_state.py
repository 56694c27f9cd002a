"""The saved state of an instance is what a full conversion gives, even when steps share nested data."""

from __future__ import annotations

from app import engine
from tests.test_engine import _reference_dumps, only_task, parse, script_process


def test_a_nested_value_changed_in_place_by_a_later_step_is_saved():
    # SpiffWorkflow copies task data one level deep: the list is shared by the finished start
    # task and the tasks after it, and the script appends to it in place
    parsed = parse(script_process("rec['log'].append(2)"))
    instance = engine.Instance.start(parsed, {"rec": {"log": [1]}})
    instance.dumps()  # the finished tasks' serialised form is kept from here on
    instance.complete(only_task(instance).id, {})
    state = instance.dumps()
    assert state == _reference_dumps(instance)
    second = only_task(instance)
    assert instance.task_data(second.id)["rec"] == {"log": [1, 2]}
    restored = engine.Instance.load(parsed, state, engine.SERIALIZER_VERSION)
    assert restored.task_data(second.id)["rec"] == {"log": [1, 2]}


def test_flat_finished_tasks_keep_their_json():
    parsed = parse(script_process("n = n + 1"))
    instance = engine.Instance.start(parsed, {"n": 1, "unit": "县一中"})
    instance.complete(only_task(instance).id, {"note": "ok"})
    state = instance.dumps()
    kept = [t for t in instance.workflow.tasks.values() if "_saved_json" in t.__dict__]
    assert kept, "finished tasks with scalar data keep their JSON"
    assert instance.dumps() == state == _reference_dumps(instance)
