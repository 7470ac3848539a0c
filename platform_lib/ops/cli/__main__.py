"""`python -m platform_lib.ops.cli`: the `mesh` command without its installed script."""

from platform_lib.ops.cli import main

if __name__ == "__main__":
    main()
