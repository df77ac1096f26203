"""Content library (LCMS): content items, their immutable versions, blobs stored once per
SHA-256, publishing with a log (publish, rollback, archive, restore), streaming upload and
download, accent-insensitive library search, and the studio and library pages."""
