"""HọcSố — a lightweight LMS + LCMS for in-service teacher training and student learning."""

__version__ = "0.1.0"
