"""`make bench`: how fast the sweep runs against Azure's budgets, and what the design saves.

Run with ``python -m local_stack.bench`` (see ``__main__``). Modules, in reading order:

- ``estates``: the estates, the simulator's limits for each, and the throttle floor;
- ``sweeps``: the product, the sequential baseline and the remediation-task model, each a
  child process;
- ``simulator_process``: the fleet simulator in its own process, and what its log counts;
- ``processes``: child processes, their CPU time and peak RSS;
- ``scale``: one estate swept one way against a fresh simulator;
- ``report``: the tables;
- ``orchestration``: micro benchmarks of the orchestration design against naive variants.
"""
