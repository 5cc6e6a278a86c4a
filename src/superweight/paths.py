"""Where each scored experiment's result lives under results/{model}/: one pattern per kind, read by the workflow's
run plan (its rules' outputs), the claims (the files they read) and the reproduction marks. No imports."""

SCORES = {
    "ablation": "ablation/{condition}/scores.json",
    "scaling": "scaling/x{factor}/scores.json",
    "wquant": "wquant/int{bits}/{wmethod}/block{block}/scores.json",
    "wquant_restored": "wquant/int{bits}/{wmethod}/block{block}/sw_x{factor}/scores.json",
    "aquant": "aquant/w8a8/{amethod}/scores.json",
}
Z = "wquant/int{bits}/z_block{block}.json"  # a model's tuned clipping z per bits and block (`z: auto`)
