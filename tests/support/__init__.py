"""Stand-ins and helpers that tests in more than one folder use, imported as ``support.<module>``.

pytest puts the tests folder on the import path because tests/conftest.py is not inside a package.
"""
