"""四性检测 runs over stored records: the verify service, its remembered state, its reports.

The checks themselves are the library in `dangan.ingest.checks`; this package decides
which records to check (all, named, or incrementally what changed or is due), reads each
original once, and files the report (JSON and PDF).
"""
