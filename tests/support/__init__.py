"""Stand-ins and helpers that tests in more than one folder use (the tests folder is on the import path)."""
