"""The audit log file is the gateway user's only: created 0600, in a folder created 0700."""

from __future__ import annotations

import json
import stat

from gateway.audit import AuditLog


def _mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_audit_log_is_created_private(tmp_path) -> None:
    path = tmp_path / "logs" / "audit.jsonl"
    audit = AuditLog(str(path))
    audit.record(request_id="r1", api="http", client="127.0.0.1", stage="preoperative",
                 status="ok", code="OK", upload_bytes=1, durations={}, response=None)
    audit.close()
    assert _mode(path) == 0o600
    assert _mode(path.parent) == 0o700
    assert json.loads(path.read_text())["request_id"] == "r1"


def test_an_existing_audit_log_is_appended_to(tmp_path) -> None:
    path = tmp_path / "audit.jsonl"
    path.write_text('{"audit": "earlier"}\n')
    audit = AuditLog(str(path))
    audit.record(request_id="r2", api="grpc", client="peer", stage="invalid",
                 status="rejected", code="INVALID_ARGUMENT", upload_bytes=0, durations={},
                 response=None)
    audit.close()
    assert [json.loads(line).get("request_id") for line in path.read_text().splitlines()] == [
        None, "r2"]


def test_the_served_gateways_audit_log_is_private(served_gateway) -> None:
    _, _, audit, _ = served_gateway
    assert _mode(audit) == 0o600
