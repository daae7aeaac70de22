"""The public surface is what lgsp.__all__ says, no more, no less."""

import lgsp


def test_all_names_the_public_members():
    public = {name for name in dir(lgsp) if not name.startswith("_")}
    modules = {"broker", "bus", "codec", "config", "domain", "errors", "metrics", "profiles",
               "signing", "cli", "faults", "log_limit"}
    assert set(lgsp.__all__) == public - modules


def test_error_tree_has_one_root():
    """Every error lgsp raises on purpose is an LgspError."""
    for name in lgsp.__all__:
        obj = getattr(lgsp, name)
        if isinstance(obj, type) and issubclass(obj, Exception):
            assert issubclass(obj, lgsp.LgspError), name
