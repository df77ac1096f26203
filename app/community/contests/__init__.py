"""Contests (idea sharing, STEM): entries, judging with a rubric, results; awards."""
