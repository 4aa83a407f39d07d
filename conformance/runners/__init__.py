"""How to run the suite inside another platform (gvisor, uml)."""
