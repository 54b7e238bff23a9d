"""The core: records, codes, scheme, encryption, object storage, database, audit, users."""
