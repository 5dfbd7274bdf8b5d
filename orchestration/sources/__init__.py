"""Source systems: declared in config/sources/*.yaml, read by one module per kind (sql, file, http),
normalised into the two canonical landing shapes (interval runs, status events)."""
