"""Demo source systems: a seeded generator of the three systems the pipeline reads, and the ticket API."""
