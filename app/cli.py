"""``flask`` commands: workflows deploy, timers run, demo."""

from __future__ import annotations

import time
from pathlib import Path

import click
from flask import Flask, current_app

from app.errors import DomainError
from app.extensions import db


def register_cli(app: Flask) -> None:
    app.cli.add_command(workflows)
    app.cli.add_command(timers)
    app.cli.add_command(demo)
    app.cli.add_command(scenario)
    app.cli.add_command(supervision)


@click.group(help="BPMN process definitions.")
def workflows() -> None:
    pass


@workflows.command(
    "deploy",
    help="Deploy workflows/*.bpmn, or the given files, as new versions. JSON form schemas beside a file "
    "(or given with --schema) are deployed with it. Nothing is deployed if any file fails to validate.",
)
@click.argument("files", nargs=-1, type=click.Path(exists=True, dir_okay=False))
@click.option("--schema", "schema_files", multiple=True, type=click.Path(exists=True, dir_okay=False),
              help="A JSON schema file named by a task's formJsonSchemaFilename (repeatable).")
def deploy(files: tuple[str, ...], schema_files: tuple[str, ...]) -> None:
    from app.errors import ValidationFailed
    from app.services import definitions

    results = []
    current = current_app.config["WORKFLOWS_DIR"]
    try:
        if files:
            for name in files:
                current = name
                path = Path(name)
                schemas = definitions.sibling_schemas(path)
                schemas.update({Path(s).name: Path(s).read_bytes() for s in schema_files})
                results.extend(definitions.deploy_bpmn(path.name, path.read_bytes(), schemas))
        else:
            results = definitions.deploy_directory(current)
    except DomainError as exc:
        db.session.rollback()
        lines = [f"部署失败，未部署任何流程（{current}）：{exc.message}"]
        problems = [p for ps in exc.fields.values() for p in ps] if isinstance(exc, ValidationFailed) else []
        if len(problems) > 1:
            lines += [f"  - {problem}" for problem in problems]
        raise click.ClickException("\n".join(lines)) from exc
    except OSError as exc:
        db.session.rollback()
        raise click.ClickException(f"部署失败，未部署任何流程：无法读取 {current}: {exc}") from exc
    db.session.commit()
    for definition, created in results:
        state = "deployed" if created else "unchanged"
        click.echo(f"{definition.key} v{definition.version} ({definition.content_hash[:12]}) {state}")


@click.group(help="BPMN timer events.")
def timers() -> None:
    pass


@timers.command("run", help="Fire due timers; loops until interrupted unless --once.")
@click.option("--once", is_flag=True, help="Fire what is due now and exit (for cron and tests).")
@click.option("--interval", default=30.0, show_default=True, help="Seconds between polls.")
def run_timers(once: bool, interval: float) -> None:
    from app.services import cases

    while True:
        total = 0
        for timer_id, case_id in cases.due_timers(limit=500):
            try:
                fired = cases.fire_timer(timer_id, case_id)
                db.session.commit()
            except DomainError as exc:
                db.session.rollback()
                click.echo(f"timer {timer_id} of case {case_id} failed: {exc.message}", err=True)
                continue
            total += int(fired)
        checks, emailed = _deadline_pass()
        publicity_report = _publicity_pass()
        if once:
            click.echo(f"fired {total} timer(s)")
            click.echo(f"publicity: {publicity_report['closed']} round(s) closed, "
                       f"{publicity_report['finalized']} group(s) finalized and archived")
            click.echo(
                f"deadlines: {checks['reminded']} reminded, {checks['escalated']} escalated, "
                f"{checks['notifications']} notification(s); {emailed} e-mail(s) sent"
            )
            return
        time.sleep(interval)


def _deadline_pass() -> tuple[dict[str, int], int]:
    """Reminders / overdue escalation, then e-mail delivery (when SMTP is configured); each commits."""
    from app import clock
    from app.services import deadlines, notifications

    checks = {"reminded": 0, "escalated": 0, "notifications": 0}
    try:
        days = int(current_app.config.get("REMINDER_WORKING_DAYS", 1))
        checks = deadlines.run_due_checks(clock.now(), reminder_working_days=days)
        db.session.commit()
    except Exception as exc:  # keep the timer loop alive; the next round retries
        db.session.rollback()
        click.echo(f"deadline pass failed: {exc}", err=True)
    emailed = 0
    settings = notifications.smtp_settings(current_app.config)
    if settings is not None:
        try:
            emailed = notifications.deliver_email(settings)
            db.session.commit()
        except Exception as exc:
            db.session.rollback()
            click.echo(f"e-mail delivery failed: {exc}", err=True)
    return checks, emailed


@click.command(help="Seed a demo county with accounts for every role and a cycle mid-way.")
def demo() -> None:
    from app.services import demo as demo_service

    created = demo_service.seed()
    db.session.commit()
    click.echo("demo data created" if created else "demo data already present")


@click.group(help="Annual-cycle scenarios (pe-scenario/1).")
def scenario() -> None:
    pass


@scenario.command("run", help="Act a scenario's year out through the workflows; print or write the result.")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--out", "out", type=click.Path(dir_okay=False), help="Write the pe-result/1 JSON here.")
def run_scenario(file: str, out: str | None) -> None:
    import json

    from app.services.scenario import output, runner, spec

    started = time.perf_counter()
    try:
        doc = json.loads(Path(file).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise click.ClickException(f"无法读取场景文件: {exc}") from exc
    try:
        state = runner.run(spec.parse(doc))
        result = output.result_document(state)
        db.session.commit()
    except DomainError as exc:
        db.session.rollback()
        details = getattr(exc, "fields", None)
        raise click.ClickException(exc.message + (f" {details}" if details else "")) from exc
    text = json.dumps(result, ensure_ascii=False, indent=1)
    if out:
        Path(out).write_text(text + "\n", encoding="utf-8")
    else:
        click.echo(text)
    elapsed = time.perf_counter() - started
    click.echo(
        f"scenario {state.scenario.year}: {len(state.scenario.units)} units, {state.tasks_completed} tasks "
        f"in {elapsed:.2f} s ({state.tasks_completed / elapsed:.0f} tasks/s)",
        err=True,
    )


def _publicity_pass() -> dict[str, int]:
    """After timers fired: close publicity rounds whose window passed, finalize and archive
    every published group whose assessment cases have all completed (helper H3)."""
    from app.services import publicity

    try:
        report = publicity.after_timers()
        db.session.commit()
    except DomainError as exc:
        db.session.rollback()
        click.echo(f"publicity pass failed: {exc.message}", err=True)
        return {"closed": 0, "finalized": 0}
    return report


@click.group(help="Ongoing supervision (督查): monthly progress reports.")
def supervision() -> None:
    pass


@supervision.command("open-month", help="Start a month's progress reports for every unit with issued targets.")
@click.option("--month", help="YYYY-MM (default: the current month, China time).")
@click.option("--as", "username", required=True, help="The office user the cases are started by.")
def open_month(month: str | None, username: str) -> None:
    from sqlalchemy import select

    from app.models import Cycle, User
    from app.services import reports
    from app.services import supervision as sv

    user = db.session.scalar(select(User).where(User.username == username))
    month = month or sv.today().strftime("%Y-%m")
    cycle = db.session.scalar(select(Cycle).where(Cycle.year == int(month[:4]))) if month[:4].isdigit() else None
    if user is None or cycle is None:
        raise click.ClickException("用户或考核年度不存在")
    try:
        created = reports.open_month(cycle, month, user)
        db.session.commit()
    except DomainError as exc:
        db.session.rollback()
        raise click.ClickException(exc.message) from exc
    click.echo(f"opened {len(created)} monthly report(s) for {month}")
