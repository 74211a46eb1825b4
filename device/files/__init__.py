"""Ebbtide's own files, read and written without surprises (whole or not at all, never
through a symbolic link).
"""
