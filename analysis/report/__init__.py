"""The report: parameterized notebooks run by papermill, HTML copies, and a PDF built with typst.

- :mod:`analysis.report.pipeline` -- ``python -m analysis report`` (``make report``), orchestration;
- :mod:`analysis.report.config`   -- the pipeline configuration (``pipeline.yml``);
- :mod:`analysis.report.price_inputs` -- prices loaded once per run, with provenance;
- :mod:`analysis.report.jobs`     -- one notebook execution (papermill) and the jobs of a run;
- :mod:`analysis.report.reuse`    -- fingerprints; unchanged notebooks copied from ``reports/latest``;
- :mod:`analysis.report.snapshot` -- prices loaded once by the pipeline, shared with every notebook;
- :mod:`analysis.report.event`, :mod:`analysis.report.compare` -- what the notebooks compute, show and save;
- :mod:`analysis.report.artifacts` -- the files the notebooks save and the PDF reads (names, units), saved atomically;
- :mod:`analysis.report.context`  -- the typed inputs of the PDF (``RunContext``, ``ReportInputs``);
- :mod:`analysis.report.pdf`      -- collect the artifacts, run the sections, compile ``template.typ``;
- :mod:`analysis.report.sections` -- one module per PDF section, registered in ``SECTIONS``;
- :mod:`analysis.report.typst_tables` -- table specs for the template;
- :mod:`analysis.report.summary_text` -- the executive summary, generated from the results;
- :mod:`analysis.report.provenance`   -- SHA-256 of inputs, versions, git commit, fingerprints;
- :mod:`analysis.fmt`      -- how numbers are printed (shared by all of the above).
"""
