"""auditkit's contracts, on a floor of their own: what the pipeline, the audits and the
readers (report, dashboard, gate) agree on. `rundir` owns the run directory's layout."""
