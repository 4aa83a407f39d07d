"""The conformance cases, one module per area; shipped as ``conformance.cases``."""
