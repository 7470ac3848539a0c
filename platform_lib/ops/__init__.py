"""Running the mesh: the workspace of code locations, the Dagster instance, `mesh build`
and erasure scheduling, scaffolding, the notebook API and the `mesh` command line."""
