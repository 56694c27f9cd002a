"""How does ``scenario run`` scale? Generated counties of 150 and 1,000 units, SQLite and PostgreSQL.

For each size and database: a fresh database (real migrations, workflows deployed), then the
``flask scenario run`` code path (``runner.run`` + the result document) on a county generated
with a fixed seed — groups of about 20 units, 2–5 departments each, returns, appeals. Prints
wall time, tasks completed, tasks/s and milliseconds per unit, and the ratio of the cost per unit
between the sizes (the goal: within ±20 %, i.e. cost linear in the number of units). Target: 150
units in ≤ 10 s on SQLite on a 2-core machine. Writes bench/out/scenario_scale.json.

    .venv/bin/python bench/scenario_scale.py [--sizes 150,1000] [--no-pg] [--no-sqlite]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import PG_DEFAULT, bench_app, write_json  # noqa: E402

TARGET_150_S = 10.0


def generate(units: int, seed: int = 2025) -> dict[str, Any]:
    """A pe-scenario/1 county: ~20 units per group, realistic spreads, one appeal per 25 units."""
    rng = random.Random(seed)
    groups = [{"code": f"G{g + 1:02d}", "name": f"第{g + 1}类单位"} for g in range((units + 19) // 20)]
    out_units = []
    for i in range(units):
        group = groups[i % len(groups)]["code"]
        out_units.append({
            "code": f"U{i + 1:04d}", "name": f"单位{i + 1:04d}", "group": group,
            "staff": rng.randint(12, 80), "departments": rng.randint(2, 5),
            "history": [rng.choice("AABBBBC") for _ in range(rng.randint(0, 3))],
            "tier": rng.choice(["I", "II", "III"]),
            "negotiation_returns": rng.choice([0, 0, 1, 2]), "self_assessment_returns": rng.choice([0, 0, 0, 1, 2]),
            "common": round(rng.uniform(22, 30), 1), "individual": round(rng.uniform(38, 50), 1),
            "satisfaction": round(rng.uniform(75, 99), 1),
            "bonus": [rng.choice([0.5, 1, 1.5, 2]) for _ in range(rng.randint(0, 2))],
            "deductions": [rng.choice([0.5, 1, 2]) for _ in range(rng.randint(0, 2))],
            "veto": rng.random() < 0.02,
        })
    appeals = [
        {"unit": out_units[i]["code"], "by": rng.choice(["unit", "public"]), "reason": "申请复核。",
         "upheld": rng.random() < 0.5, "correction": {"deductions": []}}
        for i in range(0, units, 25)
    ]
    return {"format": "pe-scenario/1", "cycle": {"year": 2025, "title": f"规模测试县2025年度绩效考核（{units}个单位）"},
            "groups": groups, "units": out_units, "appeals": appeals}


def run_once(label: str, url: str | None, size: int) -> dict[str, Any]:
    from app.services.scenario import output, runner, spec

    doc = generate(size)
    with bench_app(url):
        from app.extensions import db

        started = time.perf_counter()
        state = runner.run(spec.parse(doc))
        result = output.result_document(state)
        db.session.commit()
        elapsed = time.perf_counter() - started
    tasks = result["tasks_completed"]
    return {"backend": label, "units": size, "seconds": round(elapsed, 2), "tasks": tasks,
            "tasks_per_s": round(tasks / elapsed, 1), "ms_per_unit": round(elapsed * 1000 / size, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="150,1000")
    parser.add_argument("--no-pg", action="store_true")
    parser.add_argument("--no-sqlite", action="store_true")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s]
    backends: list[tuple[str, str | None]] = []
    if not args.no_sqlite:
        backends.append(("sqlite", None))
    if not args.no_pg:
        backends.append(("postgresql", PG_DEFAULT.replace("jixiao_bench", "jixiao_bench_scale")))
    rows = []
    for label, url in backends:
        for size in sizes:
            print(f"running {label} with {size} units ...", flush=True)
            rows.append(run_once(label, url, size))
    print()
    header = f"{'backend':<11}{'units':>7}{'seconds':>10}{'tasks':>8}{'tasks/s':>10}{'ms/unit':>10}"
    print(header)
    print("-" * len(header))
    for r in rows:
        print(f"{r['backend']:<11}{r['units']:>7}{r['seconds']:>10.2f}{r['tasks']:>8}{r['tasks_per_s']:>10.1f}"
              f"{r['ms_per_unit']:>10.2f}")
    print()
    for label, _ in backends:
        mine = [r for r in rows if r["backend"] == label]
        if len(mine) >= 2:
            base, big = mine[0], mine[-1]
            ratio = big["ms_per_unit"] / base["ms_per_unit"]
            verdict = "within" if abs(ratio - 1) <= 0.20 else "OUTSIDE"
            print(f"{label}: cost per unit {big['units']} vs {base['units']} units = {ratio:.2f} ({verdict} ±20 %)")
        small = next((r for r in mine if r["units"] == 150), None)
        if small and label == "sqlite":
            verdict = "meets" if small["seconds"] <= TARGET_150_S else "MISSES"
            print(f"{label}: 150 units in {small['seconds']:.2f} s ({verdict} the ≤ {TARGET_150_S:.0f} s target)")
    write_json("scenario_scale.json", {"runs": rows})


if __name__ == "__main__":
    main()
