"""User-facing errors.

Every problem a user can fix (bad input file, unknown label, wrong path) is raised as an
``ExplainerError`` whose message is one line naming the file/line/field and what to do.
The CLI prints it as ``error: <message>`` and exits with status 2, never with a traceback.
"""


class ExplainerError(Exception):
    """A problem with the user's input or environment, explained in one line."""

    def __init__(self, message: str, *, details: str = ""):
        # Keep the promise of one line: collapse any newlines a caller let slip in.
        super().__init__(" ".join(str(message).split()))
        # Lines the CLI prints below the error, for lists too long for one line (every model label...).
        self.details = details
