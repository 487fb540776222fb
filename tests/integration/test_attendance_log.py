"""Dispatch's attendance log, as the never-checked-out sweep reads it."""

from __future__ import annotations

from muster_dispatch.application.activities import AttendanceLog
from muster_runtime.mongo import Database


async def test_the_sweep_skips_a_stub_of_a_check_in_still_being_applied(db: Database) -> None:
    log = AttendanceLog(db)
    # A check-in being applied inserts its document first, then fills it in.
    await db["attendance_log"].insert_one({"_id": "a1:v1", "_v": 0})
    await db["attendance_log"].insert_one(
        {"_id": "a2:v2", "_v": 1, "activity_id": "a2",
         "events": [{"type": "attendance.checked_in", "payload": {}}]}
    )  # fmt: skip

    assert await log.activities_with_open_attendance() == {"a2"}
