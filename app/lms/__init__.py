"""Learning (LMS): courses built from pinned content versions, modules and lessons, enrolment,
resumable and idempotent progress, quizzes scored on the server, completion and certificates."""
