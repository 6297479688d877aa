"""The one error type the pipeline reports to users.

A ``PipelineError`` carries a single line that names the file, line or parameter at fault. The CLI prints
it as ``error: <message>`` and exits with status 2; anything else is a bug and keeps its traceback.
"""


class PipelineError(Exception):
    """A user-facing, one-line error about bad input or configuration."""

    def __init__(self, message: str):
        # Keep it to one line, whatever the cause looked like.
        super().__init__(" ".join(str(message).split()))
