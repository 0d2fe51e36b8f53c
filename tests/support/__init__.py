"""Helpers the tests import: the app and its settings, the fake Mobivate, webhook bodies,
waiting, throwaway PostgreSQL clusters and the service as a real process."""
