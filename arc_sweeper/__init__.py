"""Arc agent auto-upgrade sweeper: the domain package.

Everything the product knows lives here, importing nothing from Azure Functions, so the
same code runs in the Functions app, in the command-line runner and in tests.
"""
