"""``python -m pyre`` is the ``pyre`` command."""

from pyre.cli import main

if __name__ == "__main__":
    main()
