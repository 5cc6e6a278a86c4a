"""The quantization methods by name, without torch: the library's methods check against these, and the workflow
(whose submit host imports no torch) reads them for its wildcard constraints."""

WEIGHT_METHODS = ("rtn", "clip", "sw_aware", "rtn_keep_sw")  # simulated block-wise weight quantization (Fig. 7)
ACT_METHODS = ("naive", "sa_aware", "smoothquant")  # simulated W8A8 (Tables 3/4); the workflow's `fp` is none
CLIPPING_METHODS = ("clip", "sw_aware")  # clip at z before rounding: they read the tuned z when `z: auto`
RESTORING_METHODS = ("rtn_keep_sw", "sw_aware")  # put the super weights back after quantizing (Table 6)
