"""The legacy tool's SQL, in named blocks (`-- name: <name>`), one file per module."""
