"""Keep a command's stdout for its result: what libraries write there while it works goes to stderr instead.

`python -m pretrain.generate` prints the generated text and nothing else, so `reply=$(python -m pretrain.generate
...)` works. Reading a training checkpoint goes through DeepSpeed, which writes to stdout three ways: `print` in
`deepspeed/utils/zero_to_fp32.py` ("Processing zero checkpoint ...", "Reconstructed fp32 state dict ..."), its
"DeepSpeed" logger, whose handler is `logging.StreamHandler(stream=sys.stdout)` bound when deepspeed is first
imported (`deepspeed/utils/logging.py`), and child processes or C code writing to file descriptor 1 (op builds).
`stdout_to_stderr` covers all three for the code run inside it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator


def _stdout_handlers() -> list[logging.StreamHandler]:
    """Logging handlers (of any logger) that write to the current `sys.stdout` object."""
    loggers = [logging.getLogger(), *(logger for logger in logging.Logger.manager.loggerDict.values()
                                     if isinstance(logger, logging.Logger))]
    return [handler for logger in loggers for handler in logger.handlers
            if isinstance(handler, logging.StreamHandler) and handler.stream is sys.stdout]


@contextlib.contextmanager
def stdout_to_stderr() -> Iterator[None]:
    """Inside: `print`, logging handlers bound to stdout and writes to descriptor 1 all land on stderr."""
    sys.stdout.flush()
    handlers = _stdout_handlers()
    for handler in handlers:
        handler.setStream(sys.stderr)
    try:
        saved_fd = os.dup(1)
    except OSError:  # no descriptor 1 (an embedded interpreter): the Python-level redirection still holds
        saved_fd = None
    if saved_fd is not None:
        os.dup2(2, 1)
    try:
        # A logger created inside (deepspeed imported here for the first time) binds sys.stdout, i.e. stderr.
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        sys.stderr.flush()
        sys.stdout.flush()
        if saved_fd is not None:
            os.dup2(saved_fd, 1)
            os.close(saved_fd)
        for handler in handlers:
            handler.setStream(sys.stdout)
