"""Several app nodes serving one database."""
