"""Benchmarks: run specs and suites (:mod:`.runner`), sweeps of an ablation grid
(:mod:`.sweep`), best-known files (:mod:`.best`) and reports (:mod:`.report`)."""

from pimopt.bench.runner import (
    RECORD_SCHEMA,
    SOLVE_OPTIONS,
    BenchSummary,
    RunSpec,
    Suite,
    check_options,
    load_records,
    load_suite,
    methods_arg,
    run_isolated,
    run_one,
    run_specs,
    seeds_arg,
    validate_record,
    write_bench_readme,
)

__all__ = ["RECORD_SCHEMA", "SOLVE_OPTIONS", "BenchSummary", "RunSpec", "Suite",
           "check_options", "load_records", "load_suite", "methods_arg", "run_isolated",
           "run_one", "run_specs", "seeds_arg", "validate_record", "write_bench_readme"]
