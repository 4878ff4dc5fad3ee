"""`python -m ductwork.agent --queue NAME ...`: the agent without the full CLI."""

from ductwork.agent.commands import agent_command

agent_command(prog_name="ductwork agent")
