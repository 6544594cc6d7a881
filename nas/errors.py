"""The one exception type the CLI turns into a one-line message and a non-zero exit."""


class NasError(Exception):
    """A user-facing failure: bad input, unreachable database, spec mismatch.

    Anything raised as NasError is printed as ``error: <message>`` without a traceback,
    so its message must make sense on its own and never contain a password.
    """
