"""Child processes: spawn, fork from a warm interpreter, stop a process tree, time limits."""
