"""Shared infrastructure: settings, database, errors, security, i18n, web helpers, storage.

Nothing here knows about a domain; every domain package builds on it.
"""
