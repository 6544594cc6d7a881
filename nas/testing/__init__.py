"""Test scaffolding shared by the test suite (tests/) and the benchmarks (bench/), as
`optuna.testing` is for Optuna's: throwaway PostgreSQL servers with their crash helpers,
the real CLI in a subprocess, polling, and SQL helpers.

The product never imports this package (nothing under nas/ outside it does); it lives in
the package so that tests and benches share one copy instead of re-implementing it.

    cluster   ThrowawayCluster (a child-process server a test may kill -9 and restart),
              throwaway_postgres() for benches, traversable(), the suite's password role
    cli       ROOT, nas(), start_nas(), clean_env(), SMALL, wait_until()
    sql       query(), admin(), trial_states()
"""
from nas.testing.cli import ROOT, SMALL, clean_env, nas, start_nas, wait_until
from nas.testing.cluster import PASSWORD, PASSWORD_USER, ThrowawayCluster, throwaway_postgres, traversable
from nas.testing.sql import admin, query, trial_states

__all__ = ["PASSWORD", "PASSWORD_USER", "ROOT", "SMALL", "ThrowawayCluster", "admin", "clean_env", "nas",
           "query", "start_nas", "throwaway_postgres", "traversable", "trial_states", "wait_until"]
