"""Reproducible simulations of the concurrency problems the original design studied.

Lost update, dirty read and deadlock are each staged between two real database sessions
whose steps are ordered by barriers and events (never by sleeping and hoping), first
without protection so the anomaly is observed, then with the protection that prevents it.
``promptsales etl simulate`` prints the step-by-step trace of each run.

The package itself imports nothing: ``promptsales etl`` names the scenarios
(``etl_job.concurrency.scenario``) without loading the simulations and their drivers.
"""
