"""The DICOM listener (`cervixai dicom-listener`): studies in from the PACS by C-STORE, joined
with their clinical record, assessed, and their SEG and SR sent back (docs/pacs.md)."""
