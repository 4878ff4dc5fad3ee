"""Serving a queue with a Ray cluster: `ductwork agent --ray ADDRESS --queue gpu`.

The agent claims, heartbeats, supervises and settles exactly as it does for local processes
(`ductwork.agent.worker`); only the launcher differs. Its task process is a small local
*driver* (`driver.py`): it connects to the cluster, submits one Ray task (`remote.run`) with
the resources the queue and the task ask for (`resources.py`), prints the task's console as it
arrives, and cancels the Ray task when it gets SIGTERM. So the agent's seam stays whole:

    Agent.execute -> workspace.prepare -> RayLauncher.start -> spawn(driver) -> TaskProcess
                                                             ray.remote(remote.run) on a node
                                                               workspace.prepare there
                                                               spawn(the task) with the node's
                                                               interpreter; output streamed back

Why a driver process rather than a Ray connection inside the agent with a `Child` adapter:
supervision, aborts and time limits signal a process group (`process.supervise`, `kill_tree`),
and a driver is a real one, so an abort or a time limit needs no Ray-specific path in the
agent; a driver dies with its agent (`die_with_parent`), and Ray then ends that driver's tasks,
so a killed agent leaves nothing running on the cluster; one broken Ray connection touches one
task, never the agent. The price is a process start and a Ray connection per task (about a
second), small beside tasks worth sending to a cluster.

Ray nodes share nothing with the agent: the Ray task lays the task's code out again on its node
(`workspace.prepare` in a folder of the node's own) and runs it with the node's interpreter, as
`--same-env` does; the task process reaches the server itself (`DUCTWORK_API_URL` and
`DUCTWORK_API_KEY` travel with the Ray task), so its metrics and artifacts go there directly,
and its console comes back through the driver to the agent, which sends it like any console.
A lost node or Ray worker fails the task, or puts it back on its queue while `retries_left`
allows, the rule for a lost agent (`core.orphans.settle_lost`).
"""

from ductwork.agent.ray.launcher import RayLauncher

__all__ = ["RayLauncher"]
