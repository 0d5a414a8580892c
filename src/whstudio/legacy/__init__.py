"""Online migration of a legacy WorldHuman Studio database to the fresh-install schema."""
