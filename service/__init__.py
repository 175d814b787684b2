"""The outside of the ledger: the HTTP API, its auth, logs and settings, and the command line."""
