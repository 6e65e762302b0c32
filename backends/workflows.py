"""The workflows moved to the application layer, :mod:`ptychopinn.workflows`; this name is the
same module object, so existing imports (and patches of its attributes) keep working."""

import sys

from ptychopinn import workflows as _workflows
from ptychopinn.workflows import *  # noqa: F403  (the public names, for type checkers)

sys.modules[__name__] = _workflows
