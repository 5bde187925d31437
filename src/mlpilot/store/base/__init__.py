"""The storage interfaces: what each domain records, independent of how it is stored.

Every layer above :mod:`mlpilot.store` reaches its records through these protocols
(``store.tracking``, ``store.pipelines``, ...), never through SQL. The SQL implementation
lives in :mod:`mlpilot.store.sql`; :mod:`mlpilot.testing` holds the conformance suite
that every implementation passes.
"""
