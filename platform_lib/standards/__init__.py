"""Exports of the mesh's declarations in open standards other tools read without adapters."""
