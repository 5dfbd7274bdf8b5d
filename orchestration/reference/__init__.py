"""Reference data from the configuration: the process catalogue, business calendars, commitments, and
the publishing of them (with the business periods) as the tables the models judge by."""
