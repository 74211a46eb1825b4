"""Ebbtide's tests, in folders that follow the product's rooms (see conftest.py)."""
