"""The whole data plane on one machine: ``promptsales up`` / ``promptsales down``.

Local stand-ins replace the cluster's databases (the machine's PostgreSQL for SQL Server
and the warehouse, SecantusDB for MongoDB); everything else is the production code.
"""
