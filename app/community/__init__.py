"""Community: events and attendance, clubs and discussion, contests and judging, awards,
partners."""
