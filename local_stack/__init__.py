"""The local stack: everything that stands in for Azure on a developer machine.

Nothing here is deployed. It holds the fleet simulator (ARM and Resource Graph on
loopback), the replay-faithful local Durable host, Azurite management, the demo and
the command-line runner.
"""
