"""Work measured in a process of its own, so that its peak memory is its own: rebuild and raw read.

`python -m benchmarks.child rebuild|read DATABASE_URL [PROFILE_FILE]` prints JSON lines on stdout:
`{"progress": done, "total": head}` as it goes, then `{"events", "seconds", "peak_rss_mb"}`, and for
`read` also `encode_seconds`: the time to serialize the same domain events again into stored events,
as the import must before it writes anything.
"""

from __future__ import annotations

import cProfile
import json
import resource
import sys
import time

import projections
from domain.ledger import Ledger
from projections.read_models import BATCH_SIZE
from service.settings import Settings

# projections.rebuild reads the log in sections of this many notifications; the raw read does too.
SECTION = 5 * BATCH_SIZE


def peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM: unlike ru_maxrss, not inherited across exec)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def say(**fields: object) -> None:
    """One JSON line to the parent."""
    sys.stdout.write(json.dumps(fields) + "\n")
    sys.stdout.flush()


def rebuild(ledger: Ledger) -> tuple[int, float]:
    """Empty the read models and project every event again."""
    last = [0.0]

    def progress(done: int, total: int) -> None:
        if time.monotonic() - last[0] > 1:
            last[0] = time.monotonic()
            say(progress=done, total=total)

    return projections.rebuild(ledger, progress)


def read(ledger: Ledger) -> tuple[int, float, float]:
    """Read and deserialize every notification of the log, in the rebuild's sections, projecting
    nothing; (events, seconds, encode_seconds).

    Each event is then serialized again with the same mapper, timed apart and not counted in
    `seconds`: together with the raw insert, that is what no import can do without, whatever its
    rules cost. Each event is encoded as soon as it is decoded: a section of decoded events kept
    alive for the encoding slowed the read itself (15,143 and 15,364 events/s at 0.01 in two runs,
    against 17,590 to 22,333 in the runs before).
    """
    recorder, mapper = ledger.recorder, ledger.mapper
    decode, encode, clock = mapper.to_domain_event, mapper.to_stored_event, time.perf_counter
    head = recorder.max_notification_id() or 0
    seconds = encode_seconds = 0.0
    position = done = 0
    last = 0.0
    while True:
        started = clock()
        notifications = recorder.select_notifications(start=position, limit=SECTION, inclusive_of_start=False)
        if not notifications:
            seconds += clock() - started
            break
        for notification in notifications:
            event = decode(notification)
            decoded = clock()
            encode(event)
            encoded = clock()
            seconds += decoded - started
            encode_seconds += encoded - decoded
            started = encoded
        position = notifications[-1].id
        done += len(notifications)
        if time.monotonic() - last > 1:
            last = time.monotonic()
            say(progress=done, total=head)
    return done, seconds, encode_seconds


def main() -> None:
    """Run the work named on the command line and report it."""
    work, database_url = sys.argv[1], sys.argv[2]
    profile_file = sys.argv[3] if len(sys.argv) > 3 else None
    ledger = Ledger(Settings(database_url=database_url).ledger_env())
    try:
        profiler = cProfile.Profile() if profile_file else None
        if profiler is not None:
            profiler.enable()
        extra: dict[str, float] = {}
        if work == "read":
            events, seconds, extra["encode_seconds"] = read(ledger)
        elif work == "rebuild":
            events, seconds = rebuild(ledger)
        else:
            raise SystemExit(f"unknown work {work!r}: rebuild or read")
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(profile_file)
    finally:
        ledger.close()
    say(events=events, seconds=seconds, peak_rss_mb=peak_rss_mb(), **extra)


if __name__ == "__main__":
    main()
