"""The conformance suite for the storage interfaces of :mod:`mlpilot.store.base`."""
