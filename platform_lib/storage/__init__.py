"""Where data lives: SQL quoting, a domain's warehouse (its DuckDB file), the landing
zone, the quarantine, and the Delta output ports."""
