"""Configuration: :mod:`.model` holds the types and the checks that need no vendor;
:mod:`.load` reads a file and adds what each vendor of the registry checks."""
