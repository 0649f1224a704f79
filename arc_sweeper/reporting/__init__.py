"""What a run found, did and saw afterwards: the report, what needs attention, the alerts."""
