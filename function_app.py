"""The Functions app: wiring only. Logic lives in arc_sweeper; durable code in the blueprints.

- starters/       the daily timer (schedule from SWEEP_SCHEDULE), POST/GET /api/sweeps, /api/rings, the HTML reports
- orchestrators/  sweep_orchestrator, enable_subscription_orchestrator, follow_up_orchestrator
- activities/     one activity per sweep step
"""

import azure.durable_functions as df
import azure.functions as func

import activities
import orchestrators
import starters
import starters.reports
import starters.rings

app = df.DFApp(http_auth_level=func.AuthLevel.FUNCTION)
app.register_functions(starters.bp)
app.register_functions(starters.rings.bp)
app.register_functions(starters.reports.bp)
app.register_functions(orchestrators.bp)
app.register_functions(activities.bp)
