"""The report: parameterized notebooks run by papermill, HTML copies, and a PDF built with typst.

- :mod:`analysis.report.pipeline` -- ``python -m analysis report`` (``make report``);
- :mod:`analysis.report.config`   -- the pipeline configuration (``pipeline.yml``);
- :mod:`analysis.report.event`    -- what the event notebook computes, shows and saves;
- :mod:`analysis.report.artifacts`   -- saving figures (PNG, SVG), tables (CSV) and JSON atomically;
- :mod:`analysis.report.snapshot` -- prices loaded once by the pipeline, shared with every notebook;
- :mod:`analysis.report.pdf`      -- the data of the PDF and its compilation (``template.typ``);
- :mod:`analysis.report.summary_text` -- the executive summary, generated from the results;
- :mod:`analysis.report.provenance`   -- SHA-256 of inputs, versions, git commit, fingerprints;
- :mod:`analysis.fmt`      -- how numbers are printed (shared by all of the above).

Cross-event comparisons live in :mod:`analysis.report.compare`.
"""
