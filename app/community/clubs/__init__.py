"""Clubs: members, join requests, discussion threads and posts, moderation."""
