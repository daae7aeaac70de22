"""The public surface is what lgsp.__all__ says, no more, no less."""

import lgsp


def test_all_names_the_public_members():
    public = {name for name in dir(lgsp) if not name.startswith("_")}
    modules = {"broker", "bus", "codec", "config", "domain", "errors", "metrics", "profiles",
               "signing", "cli", "faults", "log_limit", "logs", "run"}
    assert set(lgsp.__all__) == public - modules


def test_error_tree_has_one_root():
    """Every error lgsp raises on purpose is an LgspError."""
    for name in lgsp.__all__:
        obj = getattr(lgsp, name)
        if isinstance(obj, type) and issubclass(obj, Exception):
            assert issubclass(obj, lgsp.LgspError), name


def test_run_package_exports_its_public_members():
    """lgsp.run's surface is its __all__: what tests, benchmarks and the CLI import."""
    import lgsp.run

    public = {name for name, value in vars(lgsp.run).items()
              if not name.startswith("_") and not isinstance(value, type(lgsp))}
    assert set(lgsp.run.__all__) == public
