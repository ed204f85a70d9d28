"""One exception type for bad input, so the CLI and the workflow print one clear line."""


class InputError(Exception):
    """Bad user input: the message names the file (and row/column where there is one)."""

    def __init__(self, message: str, path: str | None = None, row: int | None = None,
                 column: str | None = None):
        self.path = path
        self.row = row
        self.column = column
        where = []
        if path is not None:
            where.append(str(path))
        if row is not None:
            where.append(f"row {row}")
        if column is not None:
            where.append(f"column '{column}'")
        prefix = ": ".join([", ".join(where)]) + ": " if where else ""
        super().__init__(prefix + message)
