"""The public surface is what lgsp.__all__ says, no more, no less."""

import lgsp


def test_all_names_the_public_members():
    public = {name for name in dir(lgsp) if not name.startswith("_")}
    modules = {"broker", "bus", "codec", "config", "domain", "errors", "metrics", "profiles",
               "signing", "cli", "faults", "log_limit", "logs", "run", "external", "conformance",
               "recent_keys"}
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


def test_no_exception_class_strays_outside_the_tree():
    """Every public exception class of lgsp, producers and consumers is an LgspError (private
    ones, ``_NotFound``-style, never leave their module)."""
    import importlib
    import inspect
    import pkgutil

    strays = []
    for package_name in ("lgsp", "producers", "consumers"):
        package = importlib.import_module(package_name)
        for info in pkgutil.walk_packages(package.__path__, f"{package_name}."):
            if info.name.startswith("lgsp.cli") or info.name.endswith("__main__"):
                continue  # typer/rich layer: raises typer.Exit, defines no errors
            module = importlib.import_module(info.name)
            for name, obj in vars(module).items():
                if (inspect.isclass(obj) and issubclass(obj, BaseException)
                        and obj.__module__ == info.name and not name.startswith("_")
                        and not issubclass(obj, lgsp.LgspError)):
                    strays.append(f"{info.name}.{name}")
    assert strays == []
