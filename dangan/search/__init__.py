"""The search index: one interface, an embedded backend and Elasticsearch."""
