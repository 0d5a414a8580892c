"""The old name of `whstudio.domain.importing`, kept only until the CLI imports the package."""

from whstudio.domain.importing import *  # noqa: F403
