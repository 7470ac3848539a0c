"""A product's life from landing to consumer: stage, audit, contract (Pandera), consent,
publish (write-audit-publish) and read (the governed read path)."""
