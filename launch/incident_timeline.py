"""`python -m launch.incidents RUN_DIR`: a run's failures and what they cost, one line each, oldest first.

    2026-12-07T01:40:12.100+00:00 exit  rank 1 on node07 in optimizer of step 13 (SIGKILL)
        detect 0.6 s · relaunch 5.1 s · first resumed step 38.2 s · resumed at step 10, 2 step(s) lost

For a supervisor record (launch/incidents.py): *detect* is detection − the culprit rank's last sign of life (its
last heartbeat write or phase change, so an upper bound by at most the heartbeat interval; for a hang it includes
the heartbeat timeout), *relaunch* detection → the new launch (teardown + the node check, when one ran + backoff;
0 for a node lost under elastic torchrun, whose agents re-form the world themselves), *first resumed step*
detection → the first step the new attempt completed, *steps lost* the furthest step reached − the resumed
one. Trainer records (skipped steps, rollbacks, stragglers) are listed with the step they happened at. The
totals close the report. It reads `RUN_DIR/incidents.jsonl` (or the file given) and needs no torch.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from plumbing.user_error import UserError, report_user_error
from pretrain.incidents import INCIDENTS_FILE, NODE_LOST, read_incidents_counting


def incidents_file(path: Path) -> Path:
    """The incidents file of a run directory (which may not exist yet: a run with no incident), or the file given."""
    target = path / INCIDENTS_FILE if path.is_dir() else path
    if not path.is_dir() and not target.is_file():
        raise UserError(f"no incidents file at {target}", "pass a run directory (logging.run_dir) or its incidents.jsonl")
    return target


def _seconds(value) -> str:
    return "?" if value is None else f"{value:.1f} s"


def costs(record: dict) -> dict[str, float | None]:
    """detect, relaunch and first-resumed-step seconds of a supervisor failure record (None: unknown)."""
    phases = record.get("phases") or {}
    detected, failed = record.get("detected_at"), record.get("failed_at")
    teardown, backoff = phases.get("teardown_s"), phases.get("backoff_s")
    if record.get("cause") == NODE_LOST:
        relaunch = 0.0  # elastic torchrun: the agents re-form the world themselves, inside "first resumed step"
    elif teardown is not None and backoff is not None:
        relaunch = teardown + phases.get("node_check_s", 0.0) + backoff  # the doctor on each node, when asked
    else:
        relaunch = None
    return {
        "detect_s": detected - failed if detected is not None and failed is not None else None,
        "relaunch_s": relaunch,
        "first_step_s": record.get("time_to_recover_s"),
    }


def _where(record: dict) -> str:
    rank = record.get("rank")
    if rank is None:
        ranks = record.get("ranks") or []
        where = f"ranks {ranks}" if ranks else "rank unknown"
    else:
        where = f"rank {rank}"
    if record.get("host"):
        where += f" on {record['host']}"
    if record.get("phase") and record.get("rank_step") is not None:
        where += f" in {record['phase']} of step {record['rank_step'] + 1}"
    return where


def describe(record: dict) -> list[str]:
    """The lines for one record."""
    kind, source = record.get("kind"), record.get("source")
    head = record.get("time", "?")
    if source == "supervisor" and kind == "failure":
        cause = record.get("cause", "?")
        extra = [x for x in (record.get("signal"), f"exit code {record['exit_code']}"
                             if record.get("exit_code") is not None else None) if x]
        line = f"{head} {cause:<5} {_where(record)}" + (f" ({', '.join(extra)})" if extra else "")
        if cause == "hang" and len(record.get("ranks") or []) > 1:
            line += f"; silent: ranks {record['ranks']}"
        lines = [line]
        if record.get("error"):
            lines.append(f"    error: {record['error'][:200]}")
        if record.get("dropped_nodes"):
            lines.append(f"    relaunched without {', '.join(record['dropped_nodes'])}")
        cost = costs(record)
        resumed = record.get("resumed_step")
        tail = (f"resumed at step {resumed}, {record.get('steps_lost')} step(s) lost" if resumed is not None
                else "gave up" if record.get("gave_up") else "not resumed")
        lines.append(f"    detect {_seconds(cost['detect_s'])} · relaunch {_seconds(cost['relaunch_s'])} · "
                     f"first resumed step {_seconds(cost['first_step_s'])} · {tail}")
        return lines
    if kind == "straggler":
        return [f"{head} straggler {_where(record)}: compute {record.get('ratio', 0):.2f}x the median "
                f"({record.get('compute_s', 0) * 1000:.1f} ms vs {record.get('median_s', 0) * 1000:.1f} ms per "
                f"step) for {record.get('windows')} window(s), at step {record.get('step')}"]
    if kind == "skipped_step":
        where = ""
        if record.get("ranks"):
            where = f"; non-finite on ranks {record['ranks']}" + (
                f" ({', '.join(record['hosts'])})" if record.get("hosts") else "")
        return [f"{head} skipped step {record.get('step')}: {record.get('reason')}{where}"]
    if kind == "rollback":
        return [f"{head} rollback at step {record.get('step')} to checkpoint step {record.get('to_step')}, "
                f"{record.get('skipped_samples')} sample(s) skipped"]
    return [f"{head} {source} {kind}: " + json.dumps({k: v for k, v in record.items()
                                                        if k not in ("time", "source", "kind")}, sort_keys=True)]


NUMBERS = ("steps_lost", "detected_at", "failed_at", "time_to_recover_s", "resumed_step", "step", "ratio",
           "compute_s", "median_s")


def _check_numbers(record: dict) -> None:
    """ValueError unless every number the report computes with is a number (or absent)."""
    values = [record.get(key) for key in NUMBERS] + list((record.get("phases") or {}).values())
    if any(value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))) for value in values):
        raise ValueError("a field that must be a number is not")


def timeline(records, unreadable: int = 0) -> list[str]:
    """The report's lines; `unreadable` lines of the file were skipped already, and a record whose fields have
    the wrong types (a hand-edited file) is skipped and counted with them."""
    lines: list[str] = []
    kept = []
    for record in sorted(records, key=lambda r: str(r.get("time", ""))):
        try:
            _check_numbers(record)
            lines.extend(describe(record))
        except (TypeError, ValueError, KeyError, AttributeError):
            unreadable += 1
        else:
            kept.append(record)
    records = kept
    failures = [r for r in records if r.get("source") == "supervisor" and r.get("kind") == "failure"]
    lost = sum(r.get("steps_lost") or 0 for r in failures)
    recovered = [c for c in (costs(r) for r in failures) if c["first_step_s"] is not None]
    summary = f"{len(failures)} failure(s), {lost} step(s) lost"
    if recovered:
        downtime = sum(c["first_step_s"] + (c["detect_s"] or 0.0) for c in recovered)
        summary += f", {downtime:.1f} s from failure to resumed training in all"
    stragglers = sum(1 for r in records if r.get("kind") == "straggler")
    skipped = sum(1 for r in records if r.get("kind") == "skipped_step")
    summary += f"; {stragglers} straggler report(s), {skipped} skipped step(s)"
    if unreadable:
        summary += f"; {unreadable} unreadable line(s) skipped"
    lines.append(summary)
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m launch.incidents", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", type=Path, help="the run directory (or its incidents.jsonl)")
    args = parser.parse_args(argv)
    try:
        path = incidents_file(args.run_dir)
        records, unreadable = read_incidents_counting(path)
        if unreadable and not records:
            raise UserError(f"{path}: not an incidents file (no line is a JSON object)")
    except UserError as error:
        return report_user_error(error)
    print("\n".join(timeline(records, unreadable)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
