"""``python3 -m stackwatch``: the same as the ``stackwatch`` command."""

from stackwatch.cli import main

if __name__ == "__main__":
    main()
