"""`python -m cronplus` behaves exactly like the `cronplus` console script."""

from cronplus.cli import main

if __name__ == "__main__":
    main()
