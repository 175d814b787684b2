"""The test suite; a package so that conftest can import tests.pgserver however pytest is run."""
