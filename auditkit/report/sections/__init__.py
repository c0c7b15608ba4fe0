"""One module per audit, named after it: its `build(view, audit, results, run_dir)` adds that
audit's plots and examples to the generic section (metrics, tables, files) `views` made.

`render_html` finds a section module by the audit's name, so there is no list of audits here;
an audit without a module (one from another package, say) shows its generic section alone.
Names follow docs/audit-outputs.md. Every plot reads a documented table or artifact and is
skipped, with a note, when that is absent; everything else in the results still shows through
the generic metric and table listings, so a name added later is never hidden.
"""
