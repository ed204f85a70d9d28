"""(being written)"""


def register(subparsers) -> None:
    """No commands yet."""
