"""Events (seminars, workshops, trainings…), registration, attendance, calendars; partners."""
