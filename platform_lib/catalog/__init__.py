"""The federated catalog: every domain's products, searchable, with their full story."""
