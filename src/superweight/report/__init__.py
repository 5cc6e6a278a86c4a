"""From result files to the report: paired comparisons (compare), the claims registry and the paper's numbers
(registry), the claims (claims, claims_mechanism, claims_paper), every claim evaluated for one model
(claims_evaluate) and the only place verdicts are made (verdicts: Holm and wording; grades; strength),
claims.md/csv/json (claims_render), the emergence sweep's verdict (emergence), tables, figures (figures,
figures_mechanism), summary, the protocol page (protocol, protocol_rows, fixed_choices), HTML pages (html,
html_tables) and the paper's numbers marked reproduced or not (reproduce, reproduce_rows, reproduce_read,
reproduce_quant, reproduce_render)."""
