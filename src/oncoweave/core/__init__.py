"""Shared foundations every stage may use: errors, files, settings, sheets, tables, paths."""
