"""Helpers the test suite uses to start real services (PostgreSQL, S3 via moto, the app)."""
