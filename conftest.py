# Makes `pytest` in a checkout load the plugin; with the package installed the
# pytest11 entry point (same name) has already registered it and this is a no-op.
pytest_plugins = ["conformance.plugin"]
