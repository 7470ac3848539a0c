"""Serving data products to any tool over the Delta Sharing open protocol (`mesh serve`)."""
