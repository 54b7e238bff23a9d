"""`dangan worker`: the long-running process that works the database's queue."""
