"""The choices of the 待办 filter (cycles, units, processes, steps of the user's own open tasks).

Finding them reads every open task of the user with its case (on 1,000 open tasks the costliest
statement of the 待办 page), yet they change only when that set of tasks changes. The page's nav
counts already pass over the same tasks, so they also give the set's fingerprint (count, sum, min,
max of the task ids; ``inbox.counts_and_fingerprint``), and ``facets(user, fingerprint)`` answers
from a small per-process cache while the fingerprint is the same and the entry is younger than
``CACHE_SECONDS`` (which bounds how long a renamed unit or cycle keeps its old name in the list).
Only the filter's choices are cached: the list itself is always read afresh.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from functools import lru_cache
from typing import cast

from flask import current_app
from sqlalchemy import Select, select

from app.database import core
from app.models import Case, Cycle, HumanTask, ProcessDefinition, Unit, User
from app.services.access import bound_candidate_clause, candidate_params


@dataclass(frozen=True)
class Facets:
    """The choices of the 待办 filter, drawn from the user's own open tasks (immutable: one answer
    may be shared by several requests through the cache)."""

    cycles: tuple[tuple[int, str], ...] = ()
    units: tuple[tuple[int, str], ...] = ()
    processes: tuple[tuple[str, str], ...] = ()
    steps: tuple[tuple[str, str], ...] = ()


CACHE_SECONDS = 120.0
CACHE_SIZE = 2048
_EXTENSION = "inbox_facets_cache"  # app.extensions key: one cache per app (i.e. per database)


class _Cache:
    def __init__(self) -> None:
        self.items: OrderedDict[tuple[int, ...], tuple[float, Facets]] = OrderedDict()
        self.lock = threading.Lock()


def _app_cache() -> _Cache:
    extensions = current_app.extensions
    cache = extensions.get(_EXTENSION)
    if cache is None:
        cache = extensions.setdefault(_EXTENSION, _Cache())
    return cast(_Cache, cache)


def facets(user: User, fingerprint: tuple[int, ...] | None = None) -> Facets:
    """Distinct cycles, units, processes and steps of the user's open tasks (one query, or none
    when ``fingerprint`` — see ``inbox.counts_and_fingerprint`` — matches a recent answer)."""
    if fingerprint is None:
        return _read(user)
    cache, key, now = _app_cache(), (user.id, *fingerprint), time.monotonic()
    with cache.lock:
        hit = cache.items.get(key)
    if hit is not None and now - hit[0] < CACHE_SECONDS:
        return hit[1]
    found = _read(user)
    with cache.lock:
        cache.items[key] = (now, found)
        cache.items.move_to_end(key)
        while len(cache.items) > CACHE_SIZE:
            cache.items.popitem(last=False)
    return found


def clear_cache() -> None:
    cache = _app_cache()
    with cache.lock:
        cache.items.clear()


def _read(user: User) -> Facets:
    rows = core(_facets_statement(), candidate_params(user)).all()
    cycles: dict[int, str] = {}
    units: dict[int, str] = {}
    processes: dict[str, str] = {}
    steps: dict[str, str] = {}
    for cycle_id, cycle_title, unit_id, unit_name, process_key, process_name, step, step_name in rows:
        if cycle_id is not None:
            cycles[cycle_id] = cycle_title or str(cycle_id)
        units[unit_id] = unit_name
        processes[process_key] = process_name or process_key
        steps.setdefault(step, step_name)
    return Facets(
        cycles=tuple(sorted(cycles.items(), key=lambda item: item[1], reverse=True)),
        units=tuple(sorted(units.items(), key=lambda item: item[1])),
        processes=tuple(sorted(processes.items(), key=lambda item: item[1])),
        steps=tuple(sorted(steps.items(), key=lambda item: item[1])),
    )


@lru_cache(maxsize=1)
def _facets_statement() -> Select:
    # The distinct keys of the user's open tasks first (task → case only), then the names of those
    # few keys: joining unit, process and cycle names before DISTINCT looked each up per task row.
    keys = (
        select(
            Case.cycle_id, HumanTask.unit_id, Case.process_key, Case.definition_id, HumanTask.step,
            HumanTask.name.label("step_name"),
        )
        .select_from(HumanTask)
        .join(Case, Case.id == HumanTask.case_id)
        .where(HumanTask.status == "open", bound_candidate_clause())
        .distinct()
        .subquery("facet_keys")
    )
    return (
        select(
            keys.c.cycle_id, Cycle.title, keys.c.unit_id, Unit.name, keys.c.process_key, ProcessDefinition.name,
            keys.c.step, keys.c.step_name,
        )
        .select_from(keys)
        .join(Unit, Unit.id == keys.c.unit_id)
        .join(ProcessDefinition, ProcessDefinition.id == keys.c.definition_id)
        .outerjoin(Cycle, Cycle.id == keys.c.cycle_id)
    )
