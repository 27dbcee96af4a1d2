"""docs/clinical-schema.md shows the schema as it is."""

from __future__ import annotations

from pathlib import Path

from cervixai.clinical.docs import schema_markdown

DOC = Path(__file__).resolve().parents[2] / "docs" / "clinical-schema.md"


def test_schema_doc_is_current() -> None:
    assert schema_markdown() in DOC.read_text(), (
        "docs/clinical-schema.md is stale: regenerate the tables with "
        "`cervixai clinical schema --markdown`")
