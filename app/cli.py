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


@click.group(help="BPMN process definitions.")
def workflows() -> None:
    pass


@workflows.command("deploy", help="Deploy workflows/*.bpmn, or the given files, as new versions.")
@click.argument("files", nargs=-1, type=click.Path(exists=True, dir_okay=False))
def deploy(files: tuple[str, ...]) -> None:
    from app.services import definitions

    try:
        if files:
            results = []
            for name in files:
                results.extend(definitions.deploy_bpmn(Path(name).name, Path(name).read_bytes()))
        else:
            results = definitions.deploy_directory(current_app.config["WORKFLOWS_DIR"])
    except DomainError as exc:
        db.session.rollback()
        raise click.ClickException(exc.message) from exc
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
        if once:
            click.echo(f"fired {total} timer(s)")
            return
        time.sleep(interval)


@click.command(help="Seed a demo county with accounts for every role and a cycle mid-way.")
def demo() -> None:
    from app.services import demo as demo_service

    created = demo_service.seed()
    db.session.commit()
    click.echo("demo data created" if created else "demo data already present")
