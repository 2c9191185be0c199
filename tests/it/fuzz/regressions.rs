//! One named test per input the fuzzer found that broke a target; the input is also saved
//! under `fuzz/regressions/<target>/`, which the corpus replay runs too.
