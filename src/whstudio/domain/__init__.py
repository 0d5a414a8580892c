"""Domain logic. Functions take a connection; whoever calls them owns the transaction."""
