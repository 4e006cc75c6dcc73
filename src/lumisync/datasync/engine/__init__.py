"""The sync engine: plain functions over clear inputs (policy, mapping) and the runners that apply them."""
