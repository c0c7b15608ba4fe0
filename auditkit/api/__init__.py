"""auditkit's contracts, on a floor of their own: what the pipeline, the audits and the
readers (report, dashboard, gate) agree on. `audit` is the Audit contract, `outputs` what an
audit declares it writes, `results` the results schema, `rundir` the run directory's layout,
and `registry` the audits that exist (auditkit's own and those of installed packages)."""
