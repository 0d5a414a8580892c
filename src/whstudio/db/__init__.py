"""Database access: connections, the embedded server, named SQL queries."""
