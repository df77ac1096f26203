"""Reporting: completion aggregates, dashboards, exports, periodic report snapshots, audit log."""
