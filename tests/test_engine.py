"""Unit tests of app/engine.py: parsing, restricted scripts, state round trip, guards, timers, messages.

The processes are tiny BPMN documents written inline; none of these tests touches the database.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest

from app import clock, engine

NS = (
    'xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
    'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
    'xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core"'
)


def bpmn(body: str, *, pid: str = "p", executable: bool = True, head: str = "") -> bytes:
    """Wrap process elements in a BPMN document."""
    flag = "true" if executable else "false"
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<bpmn:definitions {NS} id="Defs_{pid}" '
        f'targetNamespace="http://bpmn.io/schema/bpmn">{head}'
        f'<bpmn:process id="{pid}" name="测试流程 {pid}" isExecutable="{flag}">{body}</bpmn:process>'
        "</bpmn:definitions>"
    ).encode()


def flow(fid: str, source: str, target: str, condition: str | None = None) -> str:
    cond = (
        f'<bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">{condition}</bpmn:conditionExpression>'
        if condition
        else ""
    )
    return f'<bpmn:sequenceFlow id="{fid}" sourceRef="{source}" targetRef="{target}">{cond}</bpmn:sequenceFlow>'


def start(out: str = "f_start") -> str:
    return f'<bpmn:startEvent id="start"><bpmn:outgoing>{out}</bpmn:outgoing></bpmn:startEvent>'


def end(inc: str) -> str:
    return f'<bpmn:endEvent id="end"><bpmn:incoming>{inc}</bpmn:incoming></bpmn:endEvent>'


def user_task(tid: str, inc: list[str], out: str, form: str = "") -> str:
    props = (
        "<bpmn:extensionElements><spiffworkflow:properties>"
        f'<spiffworkflow:property name="form" value="{form}" />'
        "</spiffworkflow:properties></bpmn:extensionElements>"
        if form
        else ""
    )
    incoming = "".join(f"<bpmn:incoming>{i}</bpmn:incoming>" for i in inc)
    outgoing = f"<bpmn:outgoing>{out}</bpmn:outgoing>"
    return f'<bpmn:userTask id="{tid}" name="任务 {tid}">{props}{incoming}{outgoing}</bpmn:userTask>'


# start -> work -> end
LINEAR = bpmn(
    start()
    + user_task("work", ["f_start"], "f_end", form="t.work")
    + end("f_end")
    + flow("f_start", "start", "work")
    + flow("f_end", "work", "end"),
    pid="linear",
)

# start -> work -> gw -(again == True)-> work ; gw -(default)-> end
LOOP = bpmn(
    start()
    + user_task("work", ["f_start", "f_again"], "f_done")
    + '<bpmn:exclusiveGateway id="gw" default="f_end"><bpmn:incoming>f_done</bpmn:incoming>'
    "<bpmn:outgoing>f_again</bpmn:outgoing><bpmn:outgoing>f_end</bpmn:outgoing></bpmn:exclusiveGateway>"
    + end("f_end")
    + flow("f_start", "start", "work")
    + flow("f_done", "work", "gw")
    + flow("f_again", "gw", "work", "again == True")
    + flow("f_end", "gw", "end"),
    pid="loop",
)


def script_process(script: str) -> bytes:
    """start -> first (user task) -> script -> second (user task) -> end"""
    return bpmn(
        start()
        + user_task("first", ["f_start"], "f_1")
        + f'<bpmn:scriptTask id="calc"><bpmn:incoming>f_1</bpmn:incoming><bpmn:outgoing>f_2</bpmn:outgoing>'
        f"<bpmn:script>{script}</bpmn:script></bpmn:scriptTask>"
        + user_task("second", ["f_2"], "f_end")
        + end("f_end")
        + flow("f_start", "start", "first")
        + flow("f_1", "first", "calc")
        + flow("f_2", "calc", "second")
        + flow("f_end", "second", "end"),
        pid="script",
    )


def timer_process(kind: str, expression: str) -> bytes:
    """start -> wait (timer catch event) -> after (user task) -> end"""
    return bpmn(
        start() + '<bpmn:intermediateCatchEvent id="wait" name="等待"><bpmn:incoming>f_start</bpmn:incoming>'
        '<bpmn:outgoing>f_1</bpmn:outgoing><bpmn:timerEventDefinition id="wait_timer">'
        f'<bpmn:{kind} xsi:type="bpmn:tFormalExpression">{expression}</bpmn:{kind}>'
        "</bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>"
        + user_task("after", ["f_1"], "f_end")
        + end("f_end")
        + flow("f_start", "start", "wait")
        + flow("f_1", "wait", "after")
        + flow("f_end", "after", "end"),
        pid=f"timer_{kind}",
    )


MESSAGE = bpmn(
    start() + '<bpmn:intermediateCatchEvent id="recv" name="收到"><bpmn:incoming>f_start</bpmn:incoming>'
    '<bpmn:outgoing>f_1</bpmn:outgoing><bpmn:messageEventDefinition id="recv_def" messageRef="Message_go">'
    "<bpmn:extensionElements><spiffworkflow:messageVariable>payload</spiffworkflow:messageVariable>"
    "</bpmn:extensionElements></bpmn:messageEventDefinition></bpmn:intermediateCatchEvent>"
    + user_task("after", ["f_1"], "f_end")
    + end("f_end")
    + flow("f_start", "start", "recv")
    + flow("f_1", "recv", "after")
    + flow("f_end", "after", "end"),
    pid="message",
    head='<bpmn:message id="Message_go" name="go" />',
)


def parse(xml: bytes) -> engine.ParsedProcess:
    [parsed] = engine.parse_bpmn(xml)
    return parsed


def only_task(instance: engine.Instance) -> engine.UserTaskView:
    [task] = instance.ready_user_tasks()
    return task


def iso(value: dt.datetime) -> str:
    return value.replace(tzinfo=dt.UTC).isoformat()


# --------------------------------------------------------------------------- restricted scripts


@pytest.fixture
def env() -> engine.RestrictedEnvironment:
    return engine.RestrictedEnvironment()


@pytest.mark.parametrize(
    "script",
    [
        "import os",
        "from os import path",
        "x = ().__class__",
        "x = ().__class__.__bases__[0].__subclasses__()",
        "x = __import__('os')",
        "x = __builtins__",
        "x = now.__globals__",
        "x = _private",
        "class C:\n    pass",
        "global y\ny = 1",
    ],
)
def test_script_refuses_imports_dunders_and_underscores(env, script):
    ctx: dict = {}
    with pytest.raises(engine.ScriptNotAllowed):
        env.execute(script, ctx)
    assert "x" not in ctx


@pytest.mark.parametrize(
    "expression",
    [
        "open('/etc/passwd')",
        "exec('x = 1')",
        "eval('1')",
        "getattr(1, 'real')",
        "globals()",
        "locals()",
        "vars()",
        "compile('1', 'x', 'eval')",
        "type(1)",
        "setattr",
        "input()",
        "breakpoint()",
    ],
)
def test_dangerous_builtins_are_not_available(env, expression):
    with pytest.raises(NameError):
        env.evaluate(expression, {})


def test_generator_frame_escape_is_blocked(env):
    script = (
        "def gen():\n"
        "    yield g.gi_frame.f_back\n"
        "g = gen()\n"
        "for frame in g:\n"
        "    break\n"
        "x = frame.f_back.f_builtins['__import__']('os').getpid()\n"
    )
    ctx: dict = {}
    with pytest.raises(Exception):  # noqa: B017 - any refusal will do, as long as nothing runs
        env.execute(script, ctx)
    assert "x" not in ctx


def test_format_string_attribute_traversal_is_blocked(env):
    ctx: dict = {}
    with pytest.raises(Exception):  # noqa: B017
        env.execute("x = '{0.__globals__[clock]}'.format(now)", ctx)
    assert "x" not in ctx


def test_whitelisted_builtins_and_helpers_work(env):
    ctx = {"scores": [3, 1, 2]}
    env.execute("total = sum(scores)\nbest = max(scores)\nnames = sorted(str(s) for s in scores)", ctx)
    assert (ctx["total"], ctx["best"], ctx["names"]) == (6, 3, ["1", "2", "3"])
    assert env.evaluate("len(scores) == 3 and total > 5", ctx) is True
    assert "now" not in ctx and "__builtins__" not in ctx  # the helpers do not leak into task data


def test_now_and_add_days_follow_the_application_clock(env):
    clock.advance(dt.timedelta(days=40))
    ctx: dict = {}
    env.execute("t = now()\nlater = add_days(t, 3)", ctx)
    moment = dt.datetime.fromisoformat(ctx["t"]).replace(tzinfo=None)
    assert abs(moment - clock.now()) < dt.timedelta(seconds=5)
    assert dt.datetime.fromisoformat(ctx["later"]) - dt.datetime.fromisoformat(ctx["t"]) == dt.timedelta(days=3)


@pytest.mark.parametrize(
    ("start_utc", "days", "expected_utc"),
    [
        ("2025-01-03T02:00:00+00:00", 1, "2025-01-06T02:00:00+00:00"),  # Fri 10:00 CST + 1 -> Mon
        ("2025-01-03T02:00:00+00:00", 5, "2025-01-10T02:00:00+00:00"),  # Fri + 5 -> next Fri
        ("2025-01-04T02:00:00+00:00", 1, "2025-01-06T02:00:00+00:00"),  # Sat + 1 -> Mon
        ("2025-01-06T02:00:00+00:00", 3, "2025-01-09T02:00:00+00:00"),  # Mon + 3 -> Thu
        # Thu 17:00 UTC is already Fri 01:00 in China: +1 working day is Mon (CST), not Fri (UTC)
        ("2025-01-02T17:00:00+00:00", 1, "2025-01-05T17:00:00+00:00"),
    ],
)
def test_add_working_days_skips_weekends_in_china_time(env, start_utc, days, expected_utc):
    ctx = {"start": start_utc, "days": days}
    env.execute("due = add_working_days(start, days)", ctx)
    assert ctx["due"] == expected_utc


def test_script_task_runs_with_helpers_inside_a_process():
    parsed = parse(script_process("due = add_working_days(now(), days)\nflag = len(items) > 1"))
    instance = engine.Instance.start(parsed, {"days": 2, "items": [1, 2]})
    instance.complete(only_task(instance).id, {})
    task = only_task(instance)
    assert task.step == "second"
    data = instance.task_data(task.id)
    assert data["flag"] is True
    assert dt.datetime.fromisoformat(data["due"]) > dt.datetime.fromisoformat(iso(clock.now()))


def test_forbidden_script_inside_a_process_is_an_engine_error():
    parsed = parse(script_process("import os"))
    instance = engine.Instance.start(parsed)
    with pytest.raises(engine.EngineError, match="Import"):
        instance.complete(only_task(instance).id, {})


def test_failing_script_at_start_is_an_engine_error():
    xml = bpmn(
        start()
        + '<bpmn:scriptTask id="calc"><bpmn:incoming>f_start</bpmn:incoming><bpmn:outgoing>f_end</bpmn:outgoing>'
        "<bpmn:script>x = 1 / 0</bpmn:script></bpmn:scriptTask>"
        + end("f_end")
        + flow("f_start", "start", "calc")
        + flow("f_end", "calc", "end"),
        pid="bad_start",
    )
    with pytest.raises(engine.EngineError):
        engine.Instance.start(parse(xml))


# --------------------------------------------------------------------------- parsing


def test_parse_collects_user_task_steps():
    parsed = parse(LINEAR)
    assert parsed.key == "linear" and parsed.name == "测试流程 linear"
    assert parsed.steps["work"].name == "任务 work" and parsed.steps["work"].properties == {"form": "t.work"}


def test_parse_refuses_str():
    with pytest.raises(TypeError):
        engine.parse_bpmn(LINEAR.decode())  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("xml", "fragment"),
    [
        (b"<bpmn:definitions <<< not xml", "无法解析"),
        (b"", "无法解析"),
        (bpmn(start() + "<bpmn:bogusElement />"), "校验失败"),
        (bpmn(start() + flow("f_start", "start", "nowhere")), "校验失败"),
        (bpmn(start() + end("f_start") + flow("f_start", "start", "end"), executable=False), "isExecutable"),
    ],
    ids=["malformed", "empty", "schema-invalid", "dangling-flow", "not-executable"],
)
def test_parse_errors_are_readable_validation_errors(xml, fragment):
    with pytest.raises(engine.ProcessValidationError) as err:
        engine.parse_bpmn(xml, "坏流程.bpmn")
    message = str(err.value)
    assert fragment in message and "坏流程.bpmn" in message
    assert "Traceback" not in message


def test_cached_process_parses_once_and_checks_the_key():
    xml = LINEAR.decode()
    first = engine.cached_process(-101, "linear", xml)
    assert engine.cached_process(-101, "linear", "ignored once cached") is first
    with pytest.raises(engine.EngineError):
        engine.cached_process(-102, "no_such_process", xml)


# --------------------------------------------------------------------------- state


def test_dumps_load_round_trip_keeps_ready_tasks_and_data():
    parsed = parse(LOOP)
    instance = engine.Instance.start(parsed, {"unit": "县一中", "n": 1})
    instance.complete(only_task(instance).id, {"again": True, "note": "第一轮"})
    before = instance.ready_user_tasks()
    state = instance.dumps()
    assert json.loads(state)  # plain JSON
    assert "spec" not in json.loads(state)  # the spec is never stored with the case

    restored = engine.Instance.load(parsed, state, engine.SERIALIZER_VERSION)
    assert restored.ready_user_tasks() == before
    data = restored.task_data(before[0].id)
    assert data["unit"] == "县一中" and data["note"] == "第一轮" and data["again"] is True
    assert restored.completed_steps() == instance.completed_steps()
    assert restored.dumps() == state  # stable

    restored.complete(before[0].id, {"again": False})
    assert restored.completed and restored.data["note"] == "第一轮"


def _reference_dumps(instance: engine.Instance) -> str:
    """The state as one plain ``json.dumps`` of the whole converted workflow (no kept JSON)."""
    from app.engine import state as module

    module._registry._encoder_mode = True
    try:
        dct = module._state_converter.to_dict(instance.workflow)
    finally:
        module._registry._encoder_mode = False
    return json.dumps(dct, separators=(",", ":"), cls=module._serializer._encoder_cls)


def test_kept_serialised_form_of_finished_tasks_equals_a_fresh_conversion():
    """``dumps`` reuses the converted dict of finished tasks; after each step (rework rounds,
    going back with ``reset_to``) the state must be exactly what a fresh conversion gives."""
    parsed = parse(LOOP)
    instance = engine.Instance.start(parsed, {"unit": "县一中"})
    for round_no in range(5):
        instance.complete(only_task(instance).id, {"again": True, "note": f"第{round_no}轮"})
        state = instance.dumps()
        fresh = engine.Instance.load(parsed, state, engine.SERIALIZER_VERSION)
        assert fresh.dumps() == state == instance.dumps() == _reference_dumps(instance)
    kept = [t for t in instance.workflow.tasks.values() if "_saved_dict" in t.__dict__]
    assert kept, "finished tasks keep their serialised form"
    done = [t for t in instance.workflow.tasks.values() if t.task_spec.manual and t.state == 64]  # COMPLETED
    assert len(done) == 5
    first = str(done[0].id)
    instance.reset_task(first)  # the first round's task is READY again; what followed is gone
    state = instance.dumps()
    assert engine.Instance.load(parsed, state, engine.SERIALIZER_VERSION).dumps() == state == _reference_dumps(instance)
    assert json.loads(state)["tasks"][first]["state"] == 16  # READY, not the kept COMPLETED form
    assert [v.id for v in instance.ready_user_tasks()] == [first]


def test_load_refuses_another_serializer_version():
    parsed = parse(LINEAR)
    state = engine.Instance.start(parsed).dumps()
    with pytest.raises(engine.EngineError, match="serializer version"):
        engine.Instance.load(parsed, state, "spiff-2.0/1.0")


@pytest.mark.parametrize("state", ["not json", "{}", '{"tasks": {}}'])
def test_load_refuses_corrupt_state(state):
    with pytest.raises(engine.EngineError):
        engine.Instance.load(parse(LINEAR), state, engine.SERIALIZER_VERSION)


def test_complete_refuses_unknown_or_finished_tasks():
    instance = engine.Instance.start(parse(LINEAR))
    task = only_task(instance)
    with pytest.raises(engine.EngineError):
        instance.complete("not-a-uuid", {})
    with pytest.raises(engine.EngineError):
        instance.complete("00000000-0000-0000-0000-000000000000", {})
    instance.complete(task.id, {})
    assert instance.completed
    with pytest.raises(engine.EngineError, match="not ready"):
        instance.complete(task.id, {})


# --------------------------------------------------------------------------- loop guard


def test_loop_guard_raises_engine_error(monkeypatch):
    monkeypatch.setattr(engine.instance, "MAX_TASKS_PER_INSTANCE", 60)  # where Instance reads it
    instance = engine.Instance.start(parse(LOOP))
    rounds = 0
    with pytest.raises(engine.EngineError, match="循环次数过多"):
        while rounds < 1000:
            instance.complete(only_task(instance).id, {"again": True})
            rounds += 1
    assert 20 < rounds < 40  # two tasks (work, gw) per round


def test_loop_guard_fires_before_the_process_silently_stalls():
    instance = engine.Instance.start(parse(LOOP))
    with pytest.raises(engine.EngineError, match="循环次数过多"):
        for _ in range(2000):
            ready = instance.ready_user_tasks()
            assert ready or instance.completed, f"stalled with {len(instance.workflow.tasks)} tasks, no ready task"
            instance.complete(ready[0].id, {"again": True})


# --------------------------------------------------------------------------- timers


def test_time_date_timer_waits_for_the_application_clock():
    due = clock.now() + dt.timedelta(days=2)
    parsed = parse(timer_process("timeDate", "due"))
    instance = engine.Instance.start(parsed, {"due": iso(due)})
    assert instance.ready_user_tasks() == []
    [timer] = instance.waiting_timers()
    assert timer.step == "wait" and abs(timer.due_at - due) < dt.timedelta(seconds=1)

    instance = engine.Instance.load(parsed, instance.dumps(), engine.SERIALIZER_VERSION)
    assert instance.waiting_timers() == [timer]  # due time survives the round trip
    clock.advance(dt.timedelta(days=3))
    instance.fire_timer(timer.id)
    assert only_task(instance).step == "after"
    assert instance.waiting_timers() == []
    with pytest.raises(engine.EngineError):
        instance.fire_timer(timer.id)  # not waiting any more


def test_time_date_already_past_fires_at_once():
    parsed = parse(timer_process("timeDate", "due"))
    instance = engine.Instance.start(parsed, {"due": iso(clock.now() - dt.timedelta(hours=1))})
    assert only_task(instance).step == "after"


def test_time_duration_timer_is_based_on_the_application_clock():
    clock.advance(dt.timedelta(days=100))  # far from wall time: the due time must follow the app clock
    parsed = parse(timer_process("timeDuration", '"P3D"'))
    instance = engine.Instance.start(parsed)
    [timer] = instance.waiting_timers()
    assert abs(timer.due_at - (clock.now() + dt.timedelta(days=3))) < dt.timedelta(seconds=5)

    instance = engine.Instance.load(parsed, instance.dumps(), engine.SERIALIZER_VERSION)
    assert instance.waiting_timers() == [timer]  # not re-based on load
    clock.advance(dt.timedelta(days=4))
    instance.fire_timer(timer.id)
    assert only_task(instance).step == "after"


# --------------------------------------------------------------------------- messages


def test_message_is_delivered_to_a_waiting_process():
    parsed = parse(MESSAGE)
    instance = engine.Instance.start(parsed, {"case": 7})
    assert instance.ready_user_tasks() == [] and instance.waiting_messages() == {"go"}
    with pytest.raises(engine.EngineError, match="not waiting"):
        instance.send_message("stop", {})

    instance = engine.Instance.load(parsed, instance.dumps(), engine.SERIALIZER_VERSION)
    instance.send_message("go", {"appeal_id": 42})
    task = only_task(instance)
    assert task.step == "after" and instance.waiting_messages() == set()
    assert instance.task_data(task.id)["payload"] == {"appeal_id": 42}
    with pytest.raises(engine.EngineError):
        instance.send_message("go", {})  # delivered once only
    instance.complete(task.id, {})
    assert instance.completed and instance.data["case"] == 7
