"""Accounts: the organisation tree (province > commune > school), users and their roles,
sign-in (API tokens and page sessions), throttling, activation codes and CSV user import."""
