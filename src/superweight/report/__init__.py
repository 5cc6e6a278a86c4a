"""From result files to the report: paired comparisons (compare), the claims registry and the paper's numbers
(registry), the claims (claims, claims_mechanism), every claim evaluated for one model (claims_evaluate) and the only
place verdicts are made (verdicts: Holm, grades, wording), claims.md/csv/json (claims_render), the emergence sweep's
verdict (emergence), tables, figures (figures, figures_mechanism), summary, protocol, HTML pages (html)."""
