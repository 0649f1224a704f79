"""The sweep's steps, one module per step, one method per durable activity.

    scope       start_run: record the run, fix its scope of subscriptions
    discovery   discover_batch: read a batch of subscriptions from Resource Graph, classify
    enabling    enable_chunk: PATCH one chunk of one subscription's machines
    follow_up   check_cohort: re-read the enabled machines, record their outcomes
    closing     finish_enabling / finish_run / record_failure: counts, report, alert

The orchestrators decide what runs when; each step does its work against narrow
interfaces (arc_sweeper.ports) and takes the orchestration's notion of "now" (`as_of`)
instead of reading the clock, so a week of follow-up means the same thing in Azure and on
the local host's virtual clock.
"""
